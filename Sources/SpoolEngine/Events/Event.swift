import Foundation

/// A trigger for functions, in Inngest's shape: `{"name", "data", "id"?, "ts"?, "user"?, "v"?}`.
public struct Event: Codable, Sendable, Hashable {
    public var name: String
    public var data: JSONValue
    /// Idempotency key: a second event with the same id within 24 hours is ignored.
    public var id: String?
    /// Milliseconds since the epoch.
    public var ts: Int64?
    public var user: JSONValue?
    public var v: String?

    public init(
        name: String,
        data: JSONValue = .object([:]),
        id: String? = nil,
        ts: Int64? = nil,
        user: JSONValue? = nil,
        v: String? = nil
    ) {
        self.name = name
        self.data = data
        self.id = id
        self.ts = ts
        self.user = user
        self.v = v
    }

    /// Decodes `data` as the function's own type.
    public func decodeData<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try data.decode(T.self)
        } catch {
            throw NonRetriableError("event \(name) has data that does not fit \(T.self): \(describe(error))")
        }
    }
}

/// A short, readable description of a decoding error.
func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
        return "missing field \(path(context.codingPath + [key]))"
    case DecodingError.typeMismatch(let type, let context):
        return "field \(path(context.codingPath)) is not \(type)"
    case DecodingError.valueNotFound(let type, let context):
        return "field \(path(context.codingPath)) is null, expected \(type)"
    case DecodingError.dataCorrupted(let context):
        let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return underlying ?? context.debugDescription
    default:
        return String(describing: error)
    }
}

private func path(_ keys: [CodingKey]) -> String {
    keys.isEmpty ? "(top level)" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}

import Foundation

/// Parses and validates a file from `incoming/`: one event object or an array of them.
public enum EventParser {
    public static let maxFileSize = 4 << 20
    public static let maxNameLength = 256
    public static let maxIDLength = 512

    /// The problems found, one per bad field, each saying where (`[2].name`) and what is wrong.
    public struct Invalid: Error, Sendable {
        public let reason: String
        public let problems: [String]
    }

    public static func parse(_ data: Data) throws(Invalid) -> [Event] {
        guard !data.isEmpty else { throw Invalid(reason: "the file is empty", problems: []) }
        if let problem = encodingProblem(data) { throw Invalid(reason: problem, problems: []) }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw Invalid(reason: "the file is not valid JSON: \(jsonProblem(data, error))", problems: [])
        }
        let items: [(String, JSONValue)]
        switch value {
        case .object: items = [("", value)]
        case .array(let array):
            guard !array.isEmpty else { throw Invalid(reason: "the array holds no events", problems: []) }
            items = array.enumerated().map { ("[\($0.offset)]", $0.element) }
        default:
            throw Invalid(reason: "the file must hold an event object or an array of them", problems: [])
        }
        var events: [Event] = []
        var problems: [String] = []
        for (place, item) in items {
            switch validate(item, at: place) {
            case .success(let event): events.append(event)
            case .failure(let found): problems += found.problems
            }
        }
        guard problems.isEmpty else {
            throw Invalid(
                reason: "\(problems.count) problem(s) in the event(s); nothing was accepted", problems: problems)
        }
        return events
    }

    public static func validate(_ value: JSONValue, at place: String = "") -> Result<Event, Invalid> {
        let prefix = place.isEmpty ? "" : place + "."
        guard case .object(let object) = value else {
            return .failure(
                Invalid(reason: "not an object", problems: ["\(place.isEmpty ? "event" : place) is not an object"]))
        }
        var problems: [String] = []
        var name = ""
        switch object["name"] {
        case .string(let text) where text.isEmpty: problems.append("\(prefix)name is empty")
        case .string(let text) where text.count > maxNameLength:
            problems.append("\(prefix)name is \(text.count) characters, over \(maxNameLength)")
        case .string(let text) where text.contains(where: \.isControl):
            let control = text.unicodeScalars.first { $0.properties.generalCategory == .control }!
            problems.append(
                "\(prefix)name has a control character (U+\(String(format: "%04X", control.value))), as in a line break"
            )
        case .string(let text): name = text
        case nil, .null?: problems.append("\(prefix)name is missing")
        default: problems.append("\(prefix)name is not a string")
        }
        var data = JSONValue.object([:])
        switch object["data"] {
        case nil, .null?: break
        case .object?: data = object["data"]!
        default: problems.append("\(prefix)data is not an object")
        }
        var id: String?
        switch object["id"] {
        case nil, .null?: break
        case .string(let text) where !text.isEmpty && text.utf8.count <= maxIDLength: id = text
        case .string: problems.append("\(prefix)id is empty or over \(maxIDLength) bytes")
        default: problems.append("\(prefix)id is not a string")
        }
        var ts: Int64?
        switch object["ts"] {
        case nil, .null?: break
        case .number(let number) where number >= 0 && number < 1e15 && number.rounded() == number: ts = Int64(number)
        default: problems.append("\(prefix)ts is not milliseconds since the epoch (a whole number)")
        }
        var version: String?
        switch object["v"] {
        case nil, .null?: break
        case .string(let text): version = text
        default: problems.append("\(prefix)v is not a string")
        }
        guard problems.isEmpty else { return .failure(Invalid(reason: "invalid event", problems: problems)) }
        return .success(Event(name: name, data: data, id: id, ts: ts, user: object["user"], v: version))
    }
}

extension EventParser {
    /// Why `data` is not UTF-8 text, or nil when it is. JSON text cannot hold a raw NUL, so one
    /// means UTF-16 or UTF-32 text (which `JSONDecoder` would otherwise quietly accept) or binary.
    static func encodingProblem(_ data: Data) -> String? {
        let head = Array(data.prefix(4))
        if head.starts(with: [0x00, 0x00, 0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE, 0x00, 0x00]) {
            return "the file is UTF-32 text, not UTF-8; save it as UTF-8"
        }
        if head.starts(with: [0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE]) {
            return "the file is UTF-16 text, not UTF-8; save it as UTF-8"
        }
        if let nul = data.firstIndex(of: 0) {
            let offset = data.distance(from: data.startIndex, to: nul)
            return "the file is not UTF-8 JSON text: it holds a NUL byte at offset \(offset) (binary, UTF-16 or UTF-32)"
        }
        if String(validating: data, as: UTF8.self) != nil { return nil }
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = data.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error:
                let byte = data[data.index(data.startIndex, offsetBy: offset)]
                return "the file is not UTF-8 text: byte 0x\(String(format: "%02X", byte)) at offset \(offset) "
                    + "is not valid UTF-8 (Latin-1 or Windows-1252?); save it as UTF-8"
            }
        }
    }

    /// Where and how JSON text is broken: `JSONDecoder` only says that it is, `JSONSerialization` says where.
    public static func jsonProblem(_ data: Data, _ error: Error) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            if let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
        }
        return describe(error)
    }
}

extension Character {
    fileprivate var isControl: Bool { unicodeScalars.contains { $0.properties.generalCategory == .control } }
}

import Foundation

/// A run's id: sorts by creation time, readable, unique across hosts, `[A-Za-z0-9._-]` only.
///
/// Shape: `20261129T080000.123Z-send-welcome-7f3a9c1e`.
public struct RunID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(validating rawValue: String) throws {
        guard SafeName.isSafe(rawValue), rawValue.count <= 200 else {
            throw SpoolError(.invalidInput, "\"\(rawValue)\" is not a run id (letters, digits, '.', '_', '-' only)")
        }
        self.rawValue = rawValue
    }

    /// A new id for `function` created at `date`; `seed` makes it deterministic (recovery re-derives it).
    public init(date: Date, function: String, seed: String? = nil) {
        let value = seed.map { UInt32(truncatingIfNeeded: StableHash.fnv1a64($0)) } ?? UInt32.random(in: 0...UInt32.max)
        let hex = String(value, radix: 16)
        let suffix = String(repeating: "0", count: 8 - hex.utf8.count) + hex
        self.rawValue = UTCTime.compact(date) + "-" + function + "-" + suffix
    }

    public init(from decoder: Decoder) throws {
        try self.init(validating: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static func < (lhs: RunID, rhs: RunID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

import Foundation

/// The JSON text of an object of strings, numbers, booleans and objects, written byte for byte as
/// `SpoolJSON.encoder` (pretty) or `SpoolJSON.lineEncoder` (one line) writes it: keys sorted by
/// their bytes, nil members left out. run.json and log.jsonl lines are written at every step of
/// every run, and Codable's encoder cost more than the rest of a step.
struct JSONObjectText {
    enum Value {
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        case object(JSONObjectText)
    }

    private var members: [(key: String, value: Value)] = []

    mutating func add(_ key: String, _ value: String?) { if let value { members.append((key, .string(value))) } }
    mutating func add(_ key: String, _ value: Int?) { if let value { members.append((key, .int(value))) } }
    mutating func add(_ key: String, _ value: Double?) { if let value { members.append((key, .double(value))) } }
    mutating func add(_ key: String, _ value: Bool?) { if let value { members.append((key, .bool(value))) } }
    mutating func add(_ key: String, _ value: JSONObjectText?) {
        if let value { members.append((key, .object(value))) }
    }

    func data(pretty: Bool) -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        write(to: &bytes, pretty: pretty, depth: 0)
        return Data(bytes)
    }

    private func write(to out: inout [UInt8], pretty: Bool, depth: Int) {
        out.append(UInt8(ascii: "{"))
        let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (index, member) in sorted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            if pretty { Self.newLine(&out, depth: depth + 1) }
            Self.appendString(member.key, to: &out)
            if pretty { out.append(contentsOf: " : ".utf8) } else { out.append(UInt8(ascii: ":")) }
            switch member.value {
            case .string(let text): Self.appendString(text, to: &out)
            case .int(let number): out.append(contentsOf: String(number).utf8)
            case .double(let number): out.append(contentsOf: Self.text(of: number).utf8)
            case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
            case .object(let object): object.write(to: &out, pretty: pretty, depth: depth + 1)
            }
        }
        if pretty { Self.newLine(&out, depth: depth) }
        out.append(UInt8(ascii: "}"))
    }

    private static func newLine(_ out: inout [UInt8], depth: Int) {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * 2))
    }

    /// A whole number without a fraction, anything else as Swift's shortest exact form.
    private static func text(of number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int(number)) }
        return number.description
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as is.
    private static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Names that can be used as a file name in the spool as they are.
public enum SafeName {
    public static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.utf8.allSatisfy(isSafeByte)
    }

    public static func isSafeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// `[A-Za-z0-9._-]` kept, every other byte percent-encoded, a leading dot encoded too.
    /// Names too long for a file name keep a readable prefix and a hash of the whole.
    public static func encode(_ name: String) -> String {
        var encoded = ""
        for (index, byte) in name.utf8.enumerated() {
            if isSafeByte(byte) && !(index == 0 && byte == UInt8(ascii: ".")) {
                encoded.append(Character(UnicodeScalar(byte)))
            } else {
                encoded += String(format: "%%%02X", byte)
            }
        }
        if encoded.isEmpty { encoded = "%00" }
        if encoded.utf8.count > 180 {
            let prefix = String(encoded.utf8.prefix(160)).map { String($0) } ?? "step"
            encoded = prefix + "~h" + String(StableHash.fnv1a64(name), radix: 16)
        }
        return encoded
    }
}

enum StableHash {
    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

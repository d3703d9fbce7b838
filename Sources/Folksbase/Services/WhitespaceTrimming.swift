extension String {
    /// The string without leading and trailing white space (Unicode's White_Space, the same set as
    /// `CharacterSet.whitespacesAndNewlines`), read as scalars: no round trip through NSString,
    /// which cost the importer half its time. A string that starts and ends with a printable ASCII
    /// byte, as most cells do, is returned as it is without decoding a scalar.
    func trimmingWhitespace() -> String {
        let utf8 = utf8
        guard let firstByte = utf8.first, let lastByte = utf8.last else { return self }
        if Unicode.Scalar.isPrintableASCII(firstByte) && Unicode.Scalar.isPrintableASCII(lastByte) { return self }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isWhiteSpace }),
            let last = scalars.lastIndex(where: { !$0.isWhiteSpace })
        else { return "" }
        if first == scalars.startIndex && scalars.index(after: last) == scalars.endIndex { return self }
        return String(scalars[first...last])
    }
}

extension Unicode.Scalar {
    /// Unicode's White_Space property, answered for ASCII without looking the property up.
    var isWhiteSpace: Bool {
        value < 0x80 ? (value == 0x20 || (0x09...0x0D).contains(value)) : properties.isWhitespace
    }

    /// `!` through `~`: an ASCII byte that is neither white space nor a control character.
    static func isPrintableASCII(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}

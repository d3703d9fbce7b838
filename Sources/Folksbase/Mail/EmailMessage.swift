import Foundation

/// An email address with an optional display name, as in `Ada Lovelace <ada@example.com>`.
public struct EmailAddress: Codable, Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The bare address, `local@domain` (ASCII).
    public var address: String
    public var name: String?

    public init(_ address: String, name: String? = nil) {
        self.address = address
        self.name = name
    }

    public init(stringLiteral value: String) { self.init(value) }

    public var description: String { name.map { "\($0) <\(address)>" } ?? address }
}

/// An email: headers, a plain-text body and an optional HTML alternative; renders as RFC 5322.
public struct EmailMessage: Codable, Sendable, Hashable {
    /// A header beyond the standard ones, such as `Reply-To` or `X-Spool-Run`.
    public struct Header: Codable, Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var from: EmailAddress
    public var to: [EmailAddress]
    public var subject: String
    public var textBody: String
    public var htmlBody: String?
    /// `id-left@id-right`, without angle brackets; the same on every retry of the sending step.
    public var messageID: String
    public var date: Date
    public var headers: [Header]

    public init(
        from: EmailAddress, to: [EmailAddress], subject: String, textBody: String, htmlBody: String? = nil,
        messageID: String, date: Date, headers: [Header] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.textBody = textBody
        self.htmlBody = htmlBody
        self.messageID = messageID.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
        self.date = date
        self.headers = headers
    }

    /// A valid Message-ID that depends only on `idempotencyKey` (for a step, run id + step id).
    ///
    /// The key's first characters keep it readable; a 128-bit hash of the whole key keeps it unique.
    public static func messageID(idempotencyKey: String, domain: String) -> String {
        let readable = dotAtom(idempotencyKey.unicodeScalars.prefix(96))
        let hash = String(stableHash(idempotencyKey), radix: 36)
        let host = dotAtom(domain.lowercased().unicodeScalars.filter { $0 != "_" })
        return (readable.isEmpty ? hash : readable + "." + hash) + "@" + (host.isEmpty ? "localhost" : host)
    }

    // MARK: Rendering

    /// The message as RFC 5322 bytes: CRLF line ends, MIME, `multipart/alternative` when there is HTML.
    ///
    /// Throws `.invalidInput` for a header that would break the message: a CR or LF in any value
    /// (header injection), an address that is not `local@domain`, no recipients.
    public func rendered() throws -> Data {
        try validate()
        var lines = [
            "From: " + Self.mailbox(from),
            "To: " + Self.list(to.map(Self.mailbox)),
            "Subject: " + Self.unstructured(subject, after: "Subject"),
            "Date: " + Self.rfc5322Date(date),
            "Message-ID: <" + messageID + ">",
            "MIME-Version: 1.0",
        ]
        for header in headers { lines.append(header.name + ": " + Self.unstructured(header.value, after: header.name)) }

        let text = Self.quotedPrintable(textBody)
        if let htmlBody {
            let boundary = "=_" + String(Self.stableHash(messageID), radix: 36)
            lines += [
                "Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "",
                "--" + boundary, "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable", "", text,
                "--" + boundary, "Content-Type: text/html; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable", "", Self.quotedPrintable(htmlBody),
                "--" + boundary + "--",
            ]
        } else {
            lines += [
                "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "", text,
            ]
        }
        return Data((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    private static let reservedHeaders: Set<String> = [
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding",
    ]

    private func validate() throws {
        guard !to.isEmpty else { throw FolksbaseError(.invalidInput, "the message \(messageID) has no recipients") }
        for address in [from] + to {
            try Self.rejectLineBreaks(address.name ?? "", in: "the display name of \(address.address)")
            guard Self.isAddress(address.address) else {
                throw FolksbaseError(
                    .invalidInput,
                    "\"\(address.address)\" is not an email address (expected local@domain in ASCII, no spaces)")
            }
        }
        try Self.rejectLineBreaks(subject, in: "the Subject header")
        guard Self.isMessageID(messageID) else {
            throw FolksbaseError(
                .invalidInput,
                "\"\(messageID)\" is not a Message-ID (expected id@domain of letters, digits and .-_; "
                    + "use EmailMessage.messageID(idempotencyKey:domain:))")
        }
        for header in headers {
            try Self.rejectLineBreaks(header.value, in: "the \(header.name) header")
            guard !header.name.isEmpty,
                header.name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") })
            else {
                throw FolksbaseError(
                    .invalidInput, "\"\(header.name)\" is not a header name (printable ASCII, no colon)")
            }
            guard !Self.reservedHeaders.contains(header.name.lowercased()) else {
                throw FolksbaseError(.invalidInput, "the \(header.name) header is set from the message's own fields")
            }
        }
    }

    private static func rejectLineBreaks(_ value: String, in place: String) throws {
        if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
            throw FolksbaseError(
                .invalidInput, "\(place) contains a line break (CR or LF), which would inject headers; remove it")
        }
    }

    /// `Name <address>`, the name quoted or encoded as RFC 2047 needs.
    private static func mailbox(_ mailbox: EmailAddress) -> String {
        let name = (mailbox.name ?? "").trimmingCharacters(in: .whitespaces)
        if name.isEmpty { return mailbox.address }
        let phrase: String
        if !isPlainASCII(name) {
            phrase = encodedWords(name)
        } else if name.unicodeScalars.allSatisfy({ isAtext($0) || $0 == " " }) {
            phrase = name
        } else {
            phrase =
                "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        }
        return phrase + " <" + mailbox.address + ">"
    }

    /// Addresses on one line when short, else one per folded line.
    private static func list(_ items: [String]) -> String {
        let oneLine = items.joined(separator: ", ")
        return oneLine.utf8.count <= 72 ? oneLine : items.joined(separator: ",\r\n ")
    }

    /// Text as is when it is printable ASCII that fits a line, else RFC 2047 encoded-words.
    private static func unstructured(_ text: String, after prefix: String) -> String {
        let fits = prefix.utf8.count + 2 + text.utf8.count <= 998
        if isPlainASCII(text) && fits && !text.contains("=?") { return text }
        return encodedWords(text)
    }

    private static func isPlainASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { (32...126).contains($0) || $0 == 9 }
    }

    /// `=?UTF-8?B?…?=` words of at most 75 characters, split between characters, folded.
    private static func encodedWords(_ text: String) -> String {
        var words: [[UInt8]] = []
        var word: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            // 45 bytes make 60 base64 characters: with `=?UTF-8?B?` and `?=`, 72 in all.
            if word.count + bytes.count > 45 && !word.isEmpty {
                words.append(word)
                word = []
            }
            word += bytes
        }
        words.append(word)
        return words.map { "=?UTF-8?B?" + Data($0).base64EncodedString() + "?=" }.joined(separator: "\r\n ")
    }

    /// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most 76 characters.
    static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + text.utf8.count / 8)
        var column = 0
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            if number > 0 {
                output += [13, 10]
                column = 0
            }
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                let literal =
                    ((33...126).contains(byte) && byte != UInt8(ascii: "="))
                    || ((byte == 32 || byte == 9) && !isLast)
                // A leading "." is encoded so no relay mistakes the line for SMTP's end of data.
                let plain = literal && !(column == 0 && byte == UInt8(ascii: "."))
                let width = plain ? 1 : 3
                if column + width > 75 {
                    output += [UInt8(ascii: "="), 13, 10]
                    column = 0
                }
                if plain {
                    output.append(byte)
                } else {
                    output += [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
                }
                column += width
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `Mon, 30 Nov 2026 08:00:00 +0000`
    static func rfc5322Date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    // MARK: Syntax

    /// RFC 5322 `atext`: what may appear unquoted in an atom.
    private static func isAtext(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9": return true
        default: return "!#$%&'*+-/=?^_`{|}~".unicodeScalars.contains(scalar)
        }
    }

    /// `local@domain`: printable ASCII without spaces or specials, one `@`.
    static func isAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, address.utf8.count <= 320 else { return false }
        return address.unicodeScalars.allSatisfy { isAtext($0) || $0 == "." || $0 == "@" }
    }

    /// `id-left@id-right`, both dot-atoms.
    private static func isMessageID(_ id: String) -> Bool {
        let parts = id.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, id.utf8.count <= 250 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && !part.hasPrefix(".") && !part.hasSuffix(".") && !part.contains("..")
                && part.unicodeScalars.allSatisfy { isAtext($0) || $0 == "." }
        }
    }

    /// Letters, digits, `-`, `_` and `.`: safe in a Message-ID and in a file name alike.
    private static func isPlainIDCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "-", "_", ".": return true
        default: return false
        }
    }

    /// `text` as a dot-atom of plain id characters (others become `-`, empty labels dropped).
    private static func dotAtom<S: Sequence<Unicode.Scalar>>(_ text: S) -> String {
        let plain = String(String.UnicodeScalarView(text.map { isPlainIDCharacter($0) ? $0 : "-" }))
        return plain.split(separator: ".").joined(separator: ".")
    }

    /// FNV-1a with 128 bits: not cryptographic, but stable across processes and hosts, which ids need.
    static func stableHash(_ text: String) -> UInt128 {
        var hash: UInt128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d
        for byte in text.utf8 {
            hash ^= UInt128(byte)
            hash = hash &* 0x0000_0000_0100_0000_0000_0000_0000_013b
        }
        return hash
    }
}

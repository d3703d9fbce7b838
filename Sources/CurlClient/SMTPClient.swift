import CCurl
import Dispatch
import Foundation

/// Sends messages to an SMTP server over libcurl: `smtp://` with STARTTLS, or `smtps://` (implicit TLS).
///
/// A send is one connection: EHLO, STARTTLS and AUTH as configured, MAIL FROM, one RCPT TO per
/// recipient, DATA. Any refused recipient fails the whole send before DATA, so a message is either
/// accepted for every recipient or for none. It blocks a thread of the client's own queue, never
/// one of the cooperative pool. The password appears in no error, description or reflection.
public struct SMTPClient: Sendable, CustomStringConvertible, CustomReflectable {
    /// Whether an `smtp://` connection is upgraded with STARTTLS (`smtps://` is always TLS).
    public enum StartTLS: Sendable, Hashable {
        /// Upgrade when the server offers STARTTLS, else continue in clear text; but a password
        /// goes in clear text only to a loopback host: with one, any other host must offer STARTTLS.
        case whenAvailable
        /// Fail with `.tls` unless the server offers STARTTLS.
        case required
        case never
    }

    public struct Configuration: Sendable {
        public var startTLS: StartTLS = .whenAvailable
        /// Off only for tests against self-signed servers.
        public var verifyTLS = true
        /// A CA bundle to trust instead of the system's.
        public var caBundle: String? = nil
        public var connectTimeout: Duration = .seconds(10)
        /// The longest a whole send may take; nil for no limit.
        public var timeout: Duration? = .seconds(300)
        /// A send that moves less than 1 byte/s for this long is abandoned.
        public var stallTimeout: Duration = .seconds(60)
        /// The name given in EHLO; by default this machine's host name.
        public var heloName: String? = nil

        public init() {}
    }

    /// The server as `scheme://host:port`, without credentials.
    public let url: String
    public let username: String?
    public var configuration: Configuration
    /// `scheme://host:port` alone; a path in `url` is the EHLO name.
    private let origin: String
    private let password: String?
    private static let queue = DispatchQueue(label: "spool.smtp", attributes: .concurrent)

    /// Throws `.invalidInput` unless `url` is `smtp://` or `smtps://` with a host.
    ///
    /// Credentials may be in the URL (`smtp://user:pass@host:587`, percent-encoded); `username`
    /// and `password` take precedence over them. Empty strings count as absent.
    public init(
        url: String, username: String? = nil, password: String? = nil, configuration: Configuration = Configuration()
    ) throws {
        let parsed = try Self.parse(url)
        self.url = parsed.origin + parsed.path
        origin = parsed.origin
        self.username = username.flatMap { $0.isEmpty ? nil : $0 } ?? parsed.username
        self.password = password.flatMap { $0.isEmpty ? nil : $0 } ?? parsed.password
        self.configuration = configuration
        if self.password != nil && self.username == nil {
            throw TransferError(.invalidInput, "an SMTP password was given for \(self.url) without a user name")
        }
    }

    /// The configured STARTTLS, made `.required` where `.whenAvailable` would let a man in the middle,
    /// by hiding the server's offer, read the password: a password for a host other than loopback.
    public var effectiveStartTLS: StartTLS {
        guard configuration.startTLS == .whenAvailable, password != nil else { return configuration.startTLS }
        return isLoopback ? .whenAvailable : .required
    }

    /// Whether the server is this machine: `localhost`, 127.0.0.0/8 or ::1.
    private var isLoopback: Bool {
        guard let start = origin.range(of: "://")?.upperBound else { return false }
        var host = origin[start...]
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        let name = host.lowercased()
        return name == "localhost" || name == "::1" || name.hasPrefix("127.")
    }

    /// `smtp://user:***@host:port`: the server and user, never the password.
    public var description: String {
        guard let username, let scheme = url.range(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + username + (password == nil ? "" : ":***") + "@"
            + String(url[scheme.upperBound...])
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["url": url, "username": username as Any, "configuration": configuration])
    }

    /// Delivers `message` (RFC 5322 bytes, CRLF line ends) from `sender` to every one of `recipients`.
    ///
    /// Returns once the server accepted the message (250 after DATA). SMTP has no idempotency: a send
    /// whose connection breaks after the final dot may have been delivered although it throws.
    public func send(from sender: String, to recipients: [String], message: Data) async throws {
        try Self.validate(sender: sender, recipients: recipients)
        let client = self
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Self.queue.async {
                continuation.resume(
                    with: Result { try client.transfer(from: sender, to: recipients, message: message) })
            }
        }
    }

    private func transfer(from sender: String, to recipients: [String], message: Data) throws {
        let target =
            configuration.heloName.map {
                origin + "/" + ($0.addingPercentEncoding(withAllowedCharacters: .urlHostAllowed) ?? $0)
            } ?? url
        let easy = try CurlEasy(url: target)
        try easy.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        if let timeout = configuration.timeout { try easy.set(CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds)) }
        try easy.set(CURLOPT_LOW_SPEED_LIMIT, 1)
        try easy.set(CURLOPT_LOW_SPEED_TIME, max(1, Int(configuration.stallTimeout.milliseconds / 1000)))
        try easy.set(CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0)
        try easy.set(CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0)
        if let caBundle = configuration.caBundle { try easy.set(CURLOPT_CAINFO, caBundle) }
        let useSSL: curl_usessl
        switch effectiveStartTLS {
        case .whenAvailable: useSSL = CURLUSESSL_TRY
        case .required: useSSL = CURLUSESSL_ALL
        case .never: useSSL = CURLUSESSL_NONE
        }
        try easy.set(CURLOPT_USE_SSL, Int(useSSL.rawValue))
        if let username {
            try easy.set(CURLOPT_USERNAME, username)
            try easy.set(CURLOPT_PASSWORD, password ?? "")
        }
        try easy.set(CURLOPT_MAIL_FROM, "<\(sender)>")
        try easy.set(CURLOPT_MAIL_RCPT, list: recipients.map { "<\($0)>" })
        try easy.set(CURLOPT_UPLOAD, 1)
        try easy.set(CURLOPT_INFILESIZE_LARGE, offset: Int64(message.count))
        easy.transfer.upload = UploadSource(data: message)

        let replies = SMTPReplies()
        _ = ccurl_setopt_callback(easy.handle, CURLOPT_HEADERFUNCTION, smtpReply)
        _ = ccurl_setopt_pointer(easy.handle, CURLOPT_HEADERDATA, Unmanaged.passUnretained(replies).toOpaque())
        try withExtendedLifetime(replies) {
            do {
                try easy.perform()
            } catch let error as TransferError {
                throw failure(error, target: target, reply: replies.failure, status: easy.responseCode)
            }
        }
    }

    /// libcurl's error with the server's reply added: a 4xx or 5xx reply to RCPT is `.recipientRefused`,
    /// to MAIL or DATA `.refused`.
    private func failure(_ error: TransferError, target: String, reply: String, status: Int) -> TransferError {
        let prefix = "\(error.code) error for \(URLRedaction.redact(target)): "
        let detail = error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
        guard status >= 400 else { return TransferError(error.code, "\(error.code) error for \(url): \(detail)") }
        let said = reply.hasPrefix(String(status)) && !echoesPassword(reply) ? " (the server said \"\(reply)\")" : ""
        if error.code == .authentication {
            let user = username ?? "the user"
            return TransferError(
                .authentication,
                "the SMTP server at \(url) did not accept the credentials of \(user): \(detail)\(said)",
                status: status)
        }
        guard error.code == .connectionLost || error.code == .other else {
            return TransferError(error.code, "\(error.code) error for \(url): \(detail)\(said)", status: status)
        }
        let when = status < 500 ? " for now (sending it again later may succeed)" : " for good"
        // libcurl names the refused command in its error text, as in `RCPT failed: 550`.
        if detail.hasPrefix("RCPT failed") {
            return TransferError(
                .recipientRefused, "the SMTP server at \(url) refused a recipient\(when): \(detail)\(said)",
                status: status)
        }
        return TransferError(
            .refused, "the SMTP server at \(url) refused the message\(when): \(detail)\(said)", status: status)
    }

    /// Whether a reply repeats the password in a form AUTH sent it; such a reply is never quoted.
    private func echoesPassword(_ reply: String) -> Bool {
        guard let password else { return false }
        let plain = Data("\0\(username ?? "")\0\(password)".utf8).base64EncodedString()
        return [password, Data(password.utf8).base64EncodedString(), plain].contains { reply.contains($0) }
    }

    /// Envelope addresses go into SMTP commands verbatim: no line breaks, brackets or spaces.
    private static func validate(sender: String, recipients: [String]) throws {
        guard !recipients.isEmpty else { throw TransferError(.invalidInput, "an SMTP message needs a recipient") }
        for address in [sender] + recipients {
            let forbidden = address.unicodeScalars.contains {
                $0.value < 0x21 || $0.value == 0x7F || "<>".unicodeScalars.contains($0)
            }
            guard !forbidden, address.isEmpty || address.contains("@") else {
                throw TransferError(
                    .invalidInput,
                    "\(address.debugDescription) is not an envelope address (expected local@domain, no spaces)")
            }
        }
        guard recipients.allSatisfy({ !$0.isEmpty }) else {
            throw TransferError(.invalidInput, "an SMTP recipient address is empty")
        }
    }

    /// Splits the credentials (percent-decoded) off `url`.
    private static func parse(
        _ url: String
    ) throws -> (origin: String, path: String, username: String?, password: String?) {
        guard let separator = url.range(of: "://") else {
            throw TransferError(.invalidInput, "the SMTP URL must look like smtp://host:port or smtps://host:port")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "smtp" || scheme == "smtps" else {
            throw TransferError(
                .invalidInput, "the SMTP URL must start with smtp:// or smtps://, not \(scheme)://")
        }
        let rest = url[separator.upperBound...]
        let authorityEnd = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var username: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let user = String(userInfo[0]).removingPercentEncoding,
                let secret = userInfo.count > 1 ? String(userInfo[1]).removingPercentEncoding : ""
            else {
                throw TransferError(.invalidInput, "the credentials in the SMTP URL are not percent-encoded correctly")
            }
            username = user.isEmpty ? nil : user
            password = secret.isEmpty ? nil : secret
            authority = authority[authority.index(after: at)...]
        }
        guard !authority.isEmpty, !authority.hasPrefix(":") else {
            throw TransferError(.invalidInput, "the SMTP URL \(scheme)://\(authority) has no host")
        }
        return (scheme + "://" + authority, String(rest[authorityEnd...]), username, password)
    }
}

/// The server's replies as libcurl hands them to the header callback, one line at a time.
private final class SMTPReplies {
    private var lines: [String] = []
    private var complete = true
    private var lastFailure: [String] = []

    /// The last 4xx or 5xx reply, its lines joined (`550 5.1.1 <bob@example.com>: recipient rejected`).
    ///
    /// Not simply the last reply: after a failure libcurl still says QUIT and hears `221 Bye`.
    var failure: String { String(lastFailure.joined(separator: " ").prefix(500)) }

    func add(_ line: String) {
        if complete { lines = [] }
        lines.append(line)
        // `250-…` continues a multi-line reply, `250 …` ends it.
        let utf8 = Array(line.utf8)
        complete = utf8.count < 4 || utf8[3] != UInt8(ascii: "-")
        if complete, let first = utf8.first, first == UInt8(ascii: "4") || first == UInt8(ascii: "5") {
            lastFailure = lines
        }
    }
}

private let smtpReply: ccurl_data_callback = { buffer, size, count, state in
    let total = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: total), as: UTF8.self)
    Unmanaged<SMTPReplies>.fromOpaque(state!).takeUnretainedValue()
        .add(line.trimmingCharacters(in: .whitespacesAndNewlines))
    return total
}

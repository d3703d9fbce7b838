import CCurl

/// A failed transfer (HTTP, SMTP): what failed, with the server's words where there are some.
public struct TransferError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case dns, connect, tls, timeout, connectionLost, httpStatus, refused, recipientRefused, authentication, io
            case invalidInput
            case other
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The host name did not resolve.
        public static let dns = Code(.dns)
        /// No connection could be made (refused, unreachable).
        public static let connect = Code(.connect)
        /// The TLS handshake or the certificate check failed.
        public static let tls = Code(.tls)
        public static let timeout = Code(.timeout)
        /// The connection broke mid-transfer.
        public static let connectionLost = Code(.connectionLost)
        /// The server answered with an HTTP error status.
        public static let httpStatus = Code(.httpStatus)
        /// The server refused the request (an SMTP rejection, for example).
        public static let refused = Code(.refused)
        /// The SMTP server refused a recipient's address (its reply to RCPT TO): for good when
        /// `status` is 5xx, for now when it is 4xx. Other recipients may still be reachable.
        public static let recipientRefused = Code(.recipientRefused)
        /// The server did not accept the credentials.
        public static let authentication = Code(.authentication)
        /// Reading or writing a local file failed.
        public static let io = Code(.io)
        public static let invalidInput = Code(.invalidInput)
        public static let other = Code(.other)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// The HTTP status or SMTP reply code, when the server answered.
    public let status: Int?
    /// The first bytes of an error response's body.
    public let bodyPrefix: String?

    public init(_ code: Code, _ message: String, status: Int? = nil, bodyPrefix: String? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.bodyPrefix = bodyPrefix
    }

    public var description: String {
        guard let bodyPrefix, !bodyPrefix.isEmpty else { return message }
        return message + ": " + bodyPrefix
    }

    /// The error for a libcurl result, naming the URL (without credentials).
    static func curl(_ result: CURLcode, detail: String, url: String) -> TransferError {
        let reason = detail.isEmpty ? String(cString: ccurl_easy_strerror(result)) : detail
        let code: Code
        switch result {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: code = .dns
        case CURLE_COULDNT_CONNECT: code = .connect
        case CURLE_OPERATION_TIMEDOUT: code = .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_USE_SSL_FAILED, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_INVALIDCERTSTATUS:
            code = .tls
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            code = .connectionLost
        case CURLE_LOGIN_DENIED: code = .authentication
        case CURLE_WRITE_ERROR, CURLE_READ_ERROR, CURLE_ABORTED_BY_CALLBACK: code = .io
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: code = .invalidInput
        case CURLE_SEND_FAIL_REWIND: code = .connectionLost
        default: code = .other
        }
        return TransferError(code, "\(code) error for \(URLRedaction.redact(url)): \(reason)")
    }
}

/// URLs as they may appear in messages and logs: never with a password, a signature or a token.
public enum URLRedaction {
    /// Query parameters whose value is a secret: presigned S3 and Google Cloud Storage URLs, Azure
    /// shared access signatures, tokens and keys.
    static let secretParameters: Set<String> = [
        "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
        "signature", "sig", "token", "access_token", "api_key", "apikey", "key",
    ]

    /// `url` with the password of its user info and the values of secret query parameters as `***`.
    public static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
        var redacted = String(url[..<scheme.upperBound])
        var hostStart = rest.startIndex
        // The user info ends at the authority's last `@`: a password may hold an unescaped one.
        if let at = rest[..<authorityEnd].lastIndex(of: "@") {
            let user = rest[..<at].prefix { $0 != ":" }
            redacted += user.isEmpty ? "" : user + ":***"
            hostStart = at
        }
        redacted += rest[hostStart..<authorityEnd]
        let tail = rest[authorityEnd...]
        guard let question = tail.firstIndex(of: "?") else { return redacted + tail }
        let queryEnd = tail[question...].firstIndex(of: "#") ?? tail.endIndex
        let parameters = tail[tail.index(after: question)..<queryEnd].split(
            separator: "&", omittingEmptySubsequences: false)
        let query = parameters.map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            let name = parameter[..<equals]
            let decoded = (String(name).removingPercentEncoding ?? String(name)).lowercased()
            return secretParameters.contains(decoded) ? name + "=***" : String(parameter)
        }
        return redacted + tail[..<question] + "?" + query.joined(separator: "&") + tail[queryEnd...]
    }
}

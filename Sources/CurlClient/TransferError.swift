import CCurl

/// A failed transfer (HTTP, SMTP): what failed, with the server's words where there are some.
public struct TransferError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case dns, connect, tls, timeout, connectionLost, httpStatus, refused, authentication, io, invalidInput
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

/// URLs as they may appear in messages and logs: never with a password.
public enum URLRedaction {
    public static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return url
        }
        let userInfo = url[scheme.upperBound..<at]
        let user = userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return String(url[..<scheme.upperBound]) + (user.isEmpty ? "" : user + ":***") + String(url[at...])
    }
}

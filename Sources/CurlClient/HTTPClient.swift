import CCurl
import Dispatch
import Foundation

/// A part of a local file, sent as (part of) a request body without loading it.
public struct FileSegment: Sendable, Hashable {
    public var path: String
    public var offset: Int64
    public var length: Int64

    public init(path: String, offset: Int64 = 0, length: Int64) {
        self.path = path
        self.offset = offset
        self.length = length
    }

    /// The whole file.
    public static func whole(_ path: String) throws -> FileSegment {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else {
            throw TransferError(.io, "cannot read the size of \(path)")
        }
        return FileSegment(path: path, length: size.int64Value)
    }
}

public struct HTTPRequest: Sendable {
    public enum Body: Sendable {
        case empty
        case data(Data)
        /// Streamed from files, in order.
        case files([FileSegment])
    }

    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Body

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: Body = .empty)
    {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    var bodyLength: Int64 {
        switch body {
        case .empty: return 0
        case .data(let data): return Int64(data.count)
        case .files(let segments): return segments.reduce(0) { $0 + $1.length }
        }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in the order received (of the final response, after redirects).
    public var headers: [(name: String, value: String)]
    public var body: Data

    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.last { $0.name == name }?.value
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// Throws `.httpStatus` with the first bytes of the body unless the status is 2xx.
    public func requireSuccess(_ what: String) throws {
        guard isSuccess else {
            throw TransferError(
                .httpStatus, "\(what) failed with HTTP \(status)", status: status,
                bodyPrefix: String(decoding: body.prefix(300), as: UTF8.self))
        }
    }
}

/// An HTTP(S) client over libcurl: streaming bodies both ways, redirects, timeouts, TLS verification on.
///
/// Transfers block a thread of the client's own queue, never one of the cooperative pool.
public struct HTTPClient: Sendable {
    public struct Configuration: Sendable {
        public var connectTimeout: Duration = .seconds(10)
        /// The longest a whole transfer may take; nil for no limit (large files).
        public var timeout: Duration? = nil
        /// A transfer slower than 1 byte/s for this long is abandoned.
        public var stallTimeout: Duration = .seconds(60)
        public var followRedirects = true
        public var maxRedirects = 5
        /// Off only for tests against self-signed servers.
        public var verifyTLS = true
        /// A CA bundle to trust instead of the system's.
        public var caBundle: String? = nil
        public var userAgent = "spool/1"
        /// The most bytes of a response body `send` keeps in memory.
        public var maxBodyInMemory = 16 << 20

        public init() {}
    }

    public var configuration: Configuration
    private static let queue = DispatchQueue(label: "spool.http", attributes: .concurrent)

    public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

    /// Sends a request and returns the response with its body in memory (up to `maxBodyInMemory`).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let limit = configuration.maxBodyInMemory
        return try await perform(request) { easy in
            var body = Data()
            easy.transfer.sink = { chunk in
                guard body.count + chunk.count <= limit else { return false }
                body.append(chunk)
                return true
            }
            try easy.perform()
            return HTTPResponse(status: easy.responseCode, headers: easy.transfer.responseHeaders, body: body)
        }
    }

    /// Streams a 2xx response's body into `path` (created or truncated); any other status throws
    /// `.httpStatus` with the first bytes of the body, and leaves `path` empty.
    public func download(_ request: HTTPRequest, to path: String) async throws -> HTTPResponse {
        try await perform(request) { easy in
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw TransferError(.io, "cannot create \(path): errno \(errno)") }
            defer { close(fd) }
            var errorBody = Data()
            var writeFailed = false
            easy.transfer.sink = { chunk in
                let status = easy.responseCode
                guard (200..<300).contains(status) else {
                    if errorBody.count < 1024 { errorBody.append(chunk.prefix(1024 - errorBody.count)) }
                    return true
                }
                let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                writeFailed = written != chunk.count
                return !writeFailed
            }
            do {
                try easy.perform()
            } catch let error as TransferError where writeFailed {
                throw TransferError(.io, "writing \(path) failed while downloading: \(error.message)")
            }
            let response = HTTPResponse(
                status: easy.responseCode, headers: easy.transfer.responseHeaders, body: errorBody)
            if !response.isSuccess { ftruncate(fd, 0) }
            try response.requireSuccess("GET \(URLRedaction.redact(request.url))")
            return response
        }
    }

    private func perform(
        _ request: HTTPRequest, _ body: @escaping @Sendable (CurlEasy) throws -> HTTPResponse
    ) async throws -> HTTPResponse {
        let configuration = self.configuration
        return try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                continuation.resume(
                    with: Result {
                        let easy = try CurlEasy(url: request.url)
                        try Self.configure(easy, request, configuration)
                        return try body(easy)
                    })
            }
        }
    }

    private static func configure(_ easy: CurlEasy, _ request: HTTPRequest, _ configuration: Configuration) throws {
        let scheme = request.url.prefix { $0 != ":" }.lowercased()
        guard request.url.contains("://"), scheme == "http" || scheme == "https" else {
            throw TransferError(.invalidInput, "\(URLRedaction.redact(request.url)) is not an http(s) URL")
        }
        try easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        if let timeout = configuration.timeout { try easy.set(CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds)) }
        try easy.set(CURLOPT_LOW_SPEED_LIMIT, 1)
        try easy.set(CURLOPT_LOW_SPEED_TIME, max(1, Int(configuration.stallTimeout.milliseconds / 1000)))
        try easy.set(CURLOPT_FOLLOWLOCATION, configuration.followRedirects ? 1 : 0)
        try easy.set(CURLOPT_MAXREDIRS, configuration.maxRedirects)
        try easy.set(CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0)
        try easy.set(CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0)
        if let caBundle = configuration.caBundle { try easy.set(CURLOPT_CAINFO, caBundle) }
        try easy.set(CURLOPT_USERAGENT, configuration.userAgent)
        try easy.set(CURLOPT_ACCEPT_ENCODING, "")

        switch request.method {
        case "GET": try easy.set(CURLOPT_HTTPGET, 1)
        case "HEAD": try easy.set(CURLOPT_NOBODY, 1)
        default: try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        switch request.body {
        case .empty:
            if request.method == "POST" || request.method == "PUT" {
                try easy.set(CURLOPT_UPLOAD, 1)
                try easy.set(CURLOPT_INFILESIZE_LARGE, offset: 0)
                easy.transfer.upload = UploadSource(data: Data())
            }
        case .data(let data):
            try easy.set(CURLOPT_UPLOAD, 1)
            try easy.set(CURLOPT_INFILESIZE_LARGE, offset: Int64(data.count))
            easy.transfer.upload = UploadSource(data: data)
        case .files(let segments):
            try easy.set(CURLOPT_UPLOAD, 1)
            try easy.set(CURLOPT_INFILESIZE_LARGE, offset: request.bodyLength)
            easy.transfer.upload = UploadSource(segments: segments)
        }
        // CURLOPT_UPLOAD makes libcurl send PUT; the custom method above still wins.
        if request.method != "GET" && request.method != "HEAD" { try easy.set(CURLOPT_CUSTOMREQUEST, request.method) }
        var headers = request.headers.map { "\($0.name): \($0.value)" }
        headers.append("Expect:")
        try easy.set(CURLOPT_HTTPHEADER, list: headers)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

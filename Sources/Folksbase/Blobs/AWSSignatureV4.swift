import Crypto
import CurlClient
import Foundation
import SpoolEngine

/// AWS Signature Version 4 (header-based): signs an S3 request with an `Authorization` header.
///
/// Signing rewrites the URL to its canonical form (each path segment and each query name and
/// value percent-encoded once as RFC 3986 says, the query sorted), so the bytes sent are the
/// bytes signed. Pure apart from reading files for `payloadHash(of:)`.
public struct AWSSignatureV4: Sendable {
    /// The SHA-256 of an empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    public var service: String

    public init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String,
        service: String = "s3"
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// The steps of one signature, kept apart so tests can compare each with AWS's examples.
    struct Computation {
        var url: String
        var headers: [(name: String, value: String)]
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String
    }

    /// `request` at its canonical URL, with `Host`, `X-Amz-Date`, `X-Amz-Content-SHA256`, the
    /// session token if any, and `Authorization`; every header of `request` is signed.
    public func sign(_ request: HTTPRequest, payloadHash: String, date: Date) throws -> HTTPRequest {
        var signed = request
        let computation = try compute(request, payloadHash: payloadHash, date: date)
        signed.url = computation.url
        signed.headers = computation.headers + [("Authorization", computation.authorization)]
        return signed
    }

    func compute(_ request: HTTPRequest, payloadHash: String, date: Date) throws -> Computation {
        let url = try CanonicalURL(request.url)
        let amzDate = String(UTCTime.compact(date).prefix(15)) + "Z"
        let day = String(amzDate.prefix(8))
        let replaced: Set = ["host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"]
        var headers = request.headers.filter { !replaced.contains($0.name.lowercased()) }
        headers.append(("Host", url.host))
        headers.append(("X-Amz-Date", amzDate))
        headers.append(("X-Amz-Content-SHA256", payloadHash))
        if let sessionToken { headers.append(("X-Amz-Security-Token", sessionToken)) }

        let canonical = Self.canonicalHeaders(headers)
        let canonicalRequest = [
            request.method.uppercased(), url.path, url.query, canonical.block, canonical.signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope),SignedHeaders=\(canonical.signedHeaders),"
            + "Signature=\(signature)"
        return Computation(
            url: url.sendable, headers: headers, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
            signature: signature, authorization: authorization)
    }

    /// The SHA-256 of a request body, hex; files are read in 1 MiB pieces, never whole.
    public static func payloadHash(of body: HTTPRequest.Body) throws -> String {
        switch body {
        case .empty: return emptyPayloadHash
        case .data(let data): return hex(SHA256.hash(data: data))
        case .files(let segments): return try payloadHash(of: segments)
        }
    }

    /// The SHA-256 of the concatenated file segments, hex.
    public static func payloadHash(of segments: [FileSegment]) throws -> String {
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for segment in segments {
            let fd = open(segment.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw readError(segment.path) }
            defer { close(fd) }
            var done: Int64 = 0
            while done < segment.length {
                let wanted = Int(min(Int64(buffer.count), segment.length - done))
                let count = buffer.withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress, wanted, off_t(segment.offset + done))
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    if count == 0 {
                        throw TransferError(.io, "\(segment.path) ended early: it changed after the upload began")
                    }
                    throw readError(segment.path)
                }
                buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                done += Int64(count)
            }
        }
        return hex(hasher.finalize())
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters (and `/`, if kept).
    public static func uriEncode(_ text: String, keepingSlash: Bool = false) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepingSlash:
                encoded.append("/")
            default:
                encoded += "%" + String(hexDigits[Int(byte >> 4)]) + String(hexDigits[Int(byte & 15)])
            }
        }
        return encoded
    }

    private static let hexDigits = Array("0123456789ABCDEF")

    /// Lower-cased names, values trimmed with inner runs of spaces collapsed, sorted by name;
    /// repeated names joined with `,`.
    private static func canonicalHeaders(
        _ headers: [(name: String, value: String)]
    ) -> (block: String, signedHeaders: String) {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            values[name.lowercased(), default: []].append(trimmed)
        }
        let names = values.keys.sorted()
        let block = names.map { $0 + ":" + values[$0]!.joined(separator: ",") + "\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func readError(_ path: String) -> TransferError {
        TransferError(.io, "cannot read \(path) to upload it: \(String(cString: strerror(errno)))")
    }
}

/// A URL split into what SigV4 signs: host, canonical path and canonical query.
private struct CanonicalURL {
    var scheme: String
    var host: String
    var path: String
    var query: String
    /// The URL to send: the canonical path and query, with `name` rather than `name=` for empty values.
    var sendable: String

    init(_ url: String) throws {
        guard let separator = url.range(of: "://") else {
            throw TransferError(.invalidInput, "\(URLRedaction.redact(url)) is not an http(s) URL")
        }
        scheme = String(url[..<separator.lowerBound]).lowercased()
        let rest = url[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        host = String(authority[(authority.lastIndex(of: "@").map(authority.index(after:)) ?? authority.startIndex)...])
        guard !host.isEmpty else { throw TransferError(.invalidInput, "\(URLRedaction.redact(url)) has no host") }
        var pathAndQuery = rest[authorityEnd...]
        if let fragment = pathAndQuery.firstIndex(of: "#") { pathAndQuery = pathAndQuery[..<fragment] }
        let questionMark = pathAndQuery.firstIndex(of: "?")
        let rawPath = pathAndQuery[..<(questionMark ?? pathAndQuery.endIndex)]
        path =
            rawPath.isEmpty
            ? "/"
            : rawPath.split(separator: "/", omittingEmptySubsequences: false)
                .map { AWSSignatureV4.uriEncode(Self.decode($0)) }.joined(separator: "/")
        var pairs: [(name: String, value: String)] = []
        if let questionMark {
            for item in pathAndQuery[pathAndQuery.index(after: questionMark)...].split(separator: "&") {
                let equals = item.firstIndex(of: "=")
                let name = Self.decode(item[..<(equals ?? item.endIndex)])
                let value = equals.map { Self.decode(item[item.index(after: $0)...]) } ?? ""
                pairs.append((AWSSignatureV4.uriEncode(name), AWSSignatureV4.uriEncode(value)))
            }
        }
        pairs.sort { $0.name != $1.name ? $0.name < $1.name : $0.value < $1.value }
        query = pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
        let sentQuery = pairs.map { $0.value.isEmpty ? $0.name : $0.name + "=" + $0.value }.joined(separator: "&")
        sendable = scheme + "://" + host + path + (sentQuery.isEmpty ? "" : "?" + sentQuery)
    }

    private static func decode(_ text: Substring) -> String {
        String(text).removingPercentEncoding ?? String(text)
    }
}

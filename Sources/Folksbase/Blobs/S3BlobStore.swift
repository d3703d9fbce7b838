import CurlClient
import Dispatch
import Foundation
import SpoolEngine

/// A blob store in an S3 bucket, or on an S3-compatible server; blobs are `s3://bucket/key` URLs.
///
/// A put under `minimumPartSize` is one PutObject; a bigger one is a multipart upload whose parts
/// are slices of the source files (`partPlan`). Bodies stream from the files, never whole in
/// memory. A put first aborts any multipart upload still in progress for its key, so a step
/// retried after a crash leaves no orphaned parts behind (S3 keeps and bills those until they are
/// aborted); two puts of one key at once would therefore disturb each other. A failed put aborts
/// its own upload, and if even that fails the next put of the key does. `localFile` reads any
/// bucket its URL names.
public struct S3BlobStore: BlobStore {
    /// S3's smallest part but the last; puts of at least this size go up in parts of this size.
    public static let minimumPartSize: Int64 = 5 << 20
    static let maximumPartCount: Int64 = 10_000
    static let maximumObjectSize: Int64 = 5 << 40

    public let bucket: String
    /// Put before every key, without leading or trailing `/`.
    public let prefix: String
    public let configuration: S3Configuration
    let http: HTTPClient

    public init(bucket: String, prefix: String = "", configuration: S3Configuration, http: HTTPClient = HTTPClient()) {
        self.bucket = bucket
        var prefix = Substring(prefix)
        while prefix.hasPrefix("/") { prefix = prefix.dropFirst() }
        while prefix.hasSuffix("/") { prefix = prefix.dropLast() }
        self.prefix = String(prefix)
        self.configuration = configuration
        self.http = http
    }

    public func put(concatenating sources: [String], key: BlobKey) async throws -> String {
        try Self.checkBucket(bucket, in: "this S3 blob store")
        let object = prefix.isEmpty ? key.description : prefix + "/" + key.description
        let segments = try sources.map(Self.wholeFile).filter { $0.length > 0 }
        let total = segments.reduce(0) { $0 + $1.length }
        guard total <= Self.maximumObjectSize else {
            throw FolksbaseError(.invalidInput, "\(total) bytes is over S3's limit of 5 TiB for one object")
        }
        try await abortUploads(of: object)
        if total < Self.minimumPartSize {
            _ = try await send(
                "PutObject", "PUT", object, body: .files(segments), headers: [Self.contentType(object)])
        } else {
            try await multipartUpload(Self.partPlan(segments, partSize: Self.partSize(for: total)), to: object)
        }
        return "s3://\(bucket)/\(object)"
    }

    /// Downloads `s3://bucket/key` into `directory` as the key's last segment.
    public func localFile(for url: String, downloadingInto directory: String) async throws -> String {
        guard url.lowercased().hasPrefix("s3://") else {
            throw FolksbaseError(.invalidInput, "\(URLRedaction.redact(url)) is not an s3:// URL")
        }
        let rest = url.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/"), rest.index(after: slash) < rest.endIndex else {
            throw FolksbaseError(.invalidInput, "\(URLRedaction.redact(url)) must be s3://bucket/key")
        }
        let bucket = String(rest[..<slash])
        let object = String(rest[rest.index(after: slash)...])
        try Self.checkBucket(bucket, in: url)
        let name = BlobKey(sanitizing: [object.split(separator: "/").last.map(String.init) ?? "download"]).description
        let target = directory + "/" + name
        let partial = directory + "/." + name + ".tmp-" + Disk.uniqueSuffix()
        do {
            _ = try await http.download(try await signedRequest("GET", bucket, object), to: partial)
            try Disk.rename(partial, target)
        } catch let error as TransferError where error.code == .httpStatus {
            try? Disk.removeFile(partial)
            let body = error.bodyPrefix ?? ""
            let s3Error = failure("GetObject", url, status: error.status ?? 0, body: body)
            if S3XML.text("Code", in: body) == "NoSuchKey" {
                throw FolksbaseError(
                    .notFound, "the blob \(URLRedaction.redact(url)) does not exist (S3 said NoSuchKey)", cause: s3Error
                )
            }
            throw s3Error
        } catch let error as TransferError {
            try? Disk.removeFile(partial)
            throw naming(error, "GetObject", url)
        } catch {
            try? Disk.removeFile(partial)
            throw error
        }
        return target
    }

    /// `segments` cut into consecutive runs of `partSize` bytes, the last shorter: small files
    /// share a part, a big file is split between parts.
    static func partPlan(_ segments: [FileSegment], partSize: Int64) -> [[FileSegment]] {
        var parts: [[FileSegment]] = []
        var current: [FileSegment] = []
        var room = partSize
        for var segment in segments {
            while segment.length > 0 {
                let taken = min(room, segment.length)
                current.append(FileSegment(path: segment.path, offset: segment.offset, length: taken))
                segment.offset += taken
                segment.length -= taken
                room -= taken
                if room == 0 {
                    parts.append(current)
                    current = []
                    room = partSize
                }
            }
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    /// `minimumPartSize`, or the whole MiBs that keep `total` within S3's 10,000 parts.
    static func partSize(for total: Int64) -> Int64 {
        let mebibyte: Int64 = 1 << 20
        let needed = (total + maximumPartCount - 1) / maximumPartCount
        return max(minimumPartSize, (needed + mebibyte - 1) / mebibyte * mebibyte)
    }

    /// The IDs of the multipart uploads in progress for exactly `object`.
    func uploadsInProgress(for object: String) async throws -> [String] {
        var ids: [String] = []
        var markers: [(String, String)] = []
        while true {
            let response = try await send(
                "ListMultipartUploads", "GET", nil, target: "s3://\(bucket)/\(object)",
                query: [("uploads", ""), ("prefix", object)] + markers)
            let xml = String(decoding: response.body, as: UTF8.self)
            for upload in S3XML.elements("Upload", in: xml) where S3XML.text("Key", in: upload) == object {
                if let id = S3XML.text("UploadId", in: upload) { ids.append(id) }
            }
            guard S3XML.text("IsTruncated", in: xml) == "true", let key = S3XML.text("NextKeyMarker", in: xml),
                let id = S3XML.text("NextUploadIdMarker", in: xml)
            else { return ids }
            markers = [("key-marker", key), ("upload-id-marker", id)]
        }
    }

    private func abortUploads(of object: String) async throws {
        for id in try await uploadsInProgress(for: object) {
            try await abortUpload(id, of: object)
        }
    }

    private func abortUpload(_ id: String, of object: String) async throws {
        do {
            _ = try await send("AbortMultipartUpload", "DELETE", object, query: [("uploadId", id)])
        } catch let error as TransferError where error.status == 404 {
            return  // already gone: completed or aborted meanwhile
        }
    }

    private func multipartUpload(_ parts: [[FileSegment]], to object: String) async throws {
        let created = try await send(
            "CreateMultipartUpload", "POST", object, query: [("uploads", "")],
            headers: [Self.contentType(object)])
        guard let id = S3XML.text("UploadId", in: String(decoding: created.body, as: UTF8.self)), !id.isEmpty else {
            throw TransferError(
                .other, "S3 CreateMultipartUpload for s3://\(bucket)/\(object) answered without an UploadId",
                bodyPrefix: String(decoding: created.body.prefix(300), as: UTF8.self))
        }
        do {
            var etags: [String] = []
            for (index, part) in parts.enumerated() {
                try Task.checkCancellation()
                let operation = "UploadPart \(index + 1) of \(parts.count)"
                let response = try await send(
                    operation, "PUT", object, query: [("partNumber", String(index + 1)), ("uploadId", id)],
                    body: .files(part))
                guard let etag = response.header("ETag"), !etag.isEmpty else {
                    throw TransferError(.other, "S3 \(operation) for s3://\(bucket)/\(object) answered without an ETag")
                }
                etags.append(etag)
            }
            let xml =
                "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + etags.enumerated().map {
                    "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(S3XML.escape($0.element))</ETag></Part>"
                }.joined() + "</CompleteMultipartUpload>"
            let completed = try await send(
                "CompleteMultipartUpload", "POST", object, query: [("uploadId", id)],
                body: .data(Data(xml.utf8)), headers: [("Content-Type", "application/xml")])
            // S3 may answer 200 and still fail: the error document then replaces the result.
            let body = String(decoding: completed.body, as: UTF8.self)
            if !S3XML.elements("Error", in: body).isEmpty {
                throw failure("CompleteMultipartUpload", "s3://\(bucket)/\(object)", status: 200, body: body)
            }
        } catch {
            try? await abortUpload(id, of: object)
            throw error
        }
    }

    /// Signs and sends one request about the bucket or `object` in it; any status but 2xx throws with S3's error
    /// code and message.
    ///
    /// - Parameter target: what errors name; by default `s3://bucket/object`.
    private func send(
        _ operation: String, _ method: String, _ object: String?, target: String? = nil,
        query: [(String, String)] = [], body: HTTPRequest.Body = .empty, headers: [(name: String, value: String)] = []
    ) async throws -> HTTPResponse {
        let target = target ?? "s3://\(bucket)/\(object ?? "")"
        let response: HTTPResponse
        do {
            let request = try await signedRequest(method, bucket, object, query: query, body: body, headers: headers)
            response = try await http.send(request)
        } catch let error as TransferError {
            throw naming(error, operation, target)
        }
        guard response.isSuccess else {
            throw failure(
                operation, target, status: response.status,
                body: String(decoding: response.body.prefix(64 << 10), as: UTF8.self),
                bucketRegion: response.header("x-amz-bucket-region"))
        }
        return response
    }

    private func signedRequest(
        _ method: String, _ bucket: String, _ object: String?, query: [(String, String)] = [],
        body: HTTPRequest.Body = .empty, headers: [(name: String, value: String)] = []
    ) async throws -> HTTPRequest {
        let endpoint = try configuration.resolvedEndpoint()
        let virtualHosted = !configuration.pathStyle && bucket.utf8.allSatisfy(Self.isDNSByte)
        var url = endpoint.scheme + "://" + (virtualHosted ? bucket + "." : "") + endpoint.host
        if !virtualHosted { url += "/" + AWSSignatureV4.uriEncode(bucket) }
        if let object { url += "/" + AWSSignatureV4.uriEncode(object, keepingSlash: true) }
        if !query.isEmpty {
            url +=
                "?"
                + query.map { AWSSignatureV4.uriEncode($0.0) + "=" + AWSSignatureV4.uriEncode($0.1) }
                .joined(separator: "&")
        }
        let payloadHash = try await Self.payloadHash(of: body)
        return try configuration.signer.sign(
            HTTPRequest(method: method, url: url, headers: headers, body: body), payloadHash: payloadHash, date: Date())
    }

    /// The error for an S3 answer: the operation, the blob, the status, and S3's code and message.
    private func failure(
        _ operation: String, _ target: String, status: Int, body: String, bucketRegion: String? = nil
    ) -> TransferError {
        var message = "S3 \(operation) for \(target) failed with HTTP \(status)"
        if let code = S3XML.text("Code", in: body) {
            message += ": \(code)"
            if let detail = S3XML.text("Message", in: body) { message += " (\(detail))" }
        } else if !body.isEmpty {
            message += ": " + body.prefix(200)
        }
        if let bucketRegion, bucketRegion != configuration.region {
            message += "; the bucket is in \(bucketRegion): set AWS_REGION=\(bucketRegion)"
        }
        return TransferError(
            status == 403 ? .authentication : .httpStatus, configuration.redacting(message), status: status)
    }

    /// A transport or local-file error, prefixed with the operation and the blob it was for.
    private func naming(_ error: TransferError, _ operation: String, _ target: String) -> TransferError {
        TransferError(
            error.code, configuration.redacting("S3 \(operation) for \(target): \(error.message)"),
            status: error.status,
            bodyPrefix: error.bodyPrefix.map(configuration.redacting))
    }

    /// Hashes a file body on a thread of its own: reading megabytes must not hold the cooperative pool.
    private static func payloadHash(of body: HTTPRequest.Body) async throws -> String {
        guard case .files = body else { return try AWSSignatureV4.payloadHash(of: body) }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try AWSSignatureV4.payloadHash(of: body) })
            }
        }
    }

    private static func wholeFile(_ path: String) throws -> FileSegment {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TransferError(.io, "cannot upload \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TransferError(.io, "cannot upload \(path): not a regular file")
        }
        return FileSegment(path: path, length: Int64(info.st_size))
    }

    private static func checkBucket(_ bucket: String, in what: String) throws {
        guard !bucket.isEmpty, bucket.utf8.allSatisfy(SafeName.isSafeByte) else {
            throw FolksbaseError(
                .invalidInput, "\(what) names no valid S3 bucket (\"\(bucket)\"): use letters, digits, '.', '_', '-'")
        }
    }

    private static func isDNSByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-")
    }

    private static func contentType(_ object: String) -> (name: String, value: String) {
        ("Content-Type", object.hasSuffix(".csv") ? "text/csv" : "application/octet-stream")
    }
}

/// Just enough XML for S3's small answers: the contents of elements by name.
enum S3XML {
    /// The raw contents of each `<name>` element, in order; S3 never nests an element in its namesake.
    static func elements(_ name: String, in xml: some StringProtocol) -> [Substring] {
        let xml = Substring(xml)
        var found: [Substring] = []
        var rest = xml[...]
        while let open = rest.range(of: "<" + name) {
            rest = rest[open.upperBound...]
            guard let next = rest.first, next == ">" || next == "/" || next.isWhitespace,
                let tagEnd = rest.firstIndex(of: ">")
            else { continue }
            let content = rest[rest.index(after: tagEnd)...]
            if rest[..<tagEnd].hasSuffix("/") {
                found.append(content[content.startIndex..<content.startIndex])
                rest = content
            } else if let close = content.range(of: "</" + name + ">") {
                found.append(content[..<close.lowerBound])
                rest = content[close.upperBound...]
            } else {
                break
            }
        }
        return found
    }

    /// The text of the first `<name>` element, entities decoded.
    static func text(_ name: String, in xml: some StringProtocol) -> String? {
        elements(name, in: xml).first.map(unescape)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func unescape(_ text: Substring) -> String {
        var result = ""
        var rest = text
        while let ampersand = rest.firstIndex(of: "&") {
            result += rest[..<ampersand]
            rest = rest[rest.index(after: ampersand)...]
            guard let semicolon = rest.prefix(10).firstIndex(of: ";"), let scalar = entity(rest[..<semicolon]) else {
                result += "&"
                continue
            }
            result.unicodeScalars.append(scalar)
            rest = rest[rest.index(after: semicolon)...]
        }
        return result + rest
    }

    private static func entity(_ name: Substring) -> Unicode.Scalar? {
        switch name {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard name.hasPrefix("#") else { return nil }
            let number = name.hasPrefix("#x") ? UInt32(name.dropFirst(2), radix: 16) : UInt32(name.dropFirst())
            return number.flatMap(Unicode.Scalar.init)
        }
    }
}

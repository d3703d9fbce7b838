import CCurl
import Foundation

/// One libcurl easy handle for one transfer; the unsafe edge of the transports, kept in this file.
///
/// Callbacks reach their Swift state through an `Unmanaged` pointer to `Transfer`.
final class CurlEasy {
    /// Where a transfer's bytes come from and go to, and the headers it saw.
    final class Transfer {
        var upload: UploadSource?
        var sink: (Data) -> Bool = { _ in true }
        var responseHeaders: [(String, String)] = []
        var failure: Error?
    }

    private static let globalInit: Void = { ccurl_global_init(Int(CURL_GLOBAL_ALL)) }()

    let handle: UnsafeMutableRawPointer
    let url: String
    let transfer = Transfer()
    private var lists: [UnsafeMutablePointer<curl_slist>?] = []
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    init(url: String) throws {
        _ = Self.globalInit
        guard let handle = ccurl_easy_init() else {
            throw TransferError(
                .other, ccurl_load_error().map { String(cString: $0) } ?? "libcurl could not create a handle")
        }
        self.handle = handle
        self.url = url
        try set(CURLOPT_URL, url)
        try set(CURLOPT_NOSIGNAL, 1)
        errorBuffer.withUnsafeMutableBufferPointer {
            _ = ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, $0.baseAddress)
        }
        let state = Unmanaged.passUnretained(transfer).toOpaque()
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, state)
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, state)
        _ = ccurl_setopt_pointer(handle, CURLOPT_READDATA, state)
        _ = ccurl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, curlWrite)
        _ = ccurl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, curlHeader)
        _ = ccurl_setopt_callback(handle, CURLOPT_READFUNCTION, curlRead)
    }

    deinit {
        ccurl_easy_cleanup(handle)
        for list in lists { ccurl_slist_free_all(list) }
        for string in strings { free(string) }
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(ccurl_setopt_long(handle, option, value), option)
    }

    func set(_ option: CURLoption, offset value: Int64) throws {
        try check(ccurl_setopt_off_t(handle, option, curl_off_t(value)), option)
    }

    func set(_ option: CURLoption, _ value: String) throws {
        let copy = strdup(value)!
        strings.append(copy)
        try check(ccurl_setopt_string(handle, option, copy), option)
    }

    func set(_ option: CURLoption, list values: [String]) throws {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values { list = ccurl_slist_append(list, value) }
        lists.append(list)
        try check(ccurl_setopt_slist(handle, option, list), option)
    }

    /// Runs the transfer (blocking); a callback's error wins over libcurl's.
    func perform() throws {
        let result = ccurl_easy_perform(handle)
        if let failure = transfer.failure { throw failure }
        guard result == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TransferError.curl(result, detail: detail, url: url)
        }
    }

    var responseCode: Int {
        var code = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func check(_ result: CURLcode, _ option: CURLoption) throws {
        guard result == CURLE_OK else {
            throw TransferError(
                .other, "libcurl refused option \(option.rawValue): \(String(cString: ccurl_easy_strerror(result)))")
        }
    }
}

/// A request body read from memory or streamed from file segments.
final class UploadSource {
    private var data: Data
    private var segments: [FileSegment]
    private var fd: Int32 = -1
    private var remainingInSegment: Int64 = 0

    init(data: Data) {
        self.data = data
        segments = []
    }

    init(segments: [FileSegment]) {
        data = Data()
        self.segments = segments
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Fills `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !data.isEmpty {
            let count = min(buffer.count, data.count)
            data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: data.startIndex..<data.startIndex + count)
            data.removeFirst(count)
            return count
        }
        while true {
            if fd < 0 {
                guard !segments.isEmpty else { return 0 }
                let segment = segments.removeFirst()
                fd = open(segment.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw TransferError(.io, "cannot open \(segment.path) to upload it") }
                guard lseek(fd, off_t(segment.offset), SEEK_SET) >= 0 else {
                    throw TransferError(.io, "cannot seek in \(segment.path)")
                }
                remainingInSegment = segment.length
            }
            let wanted = Int(min(Int64(buffer.count), remainingInSegment))
            let count = wanted == 0 ? 0 : Foundation.read(fd, buffer.baseAddress, wanted)
            if count < 0 { throw TransferError(.io, "reading an upload's file failed: errno \(errno)") }
            if count == 0 {
                if remainingInSegment > 0 { throw TransferError(.io, "a file being uploaded shrank") }
                close(fd)
                fd = -1
                continue
            }
            remainingInSegment -= Int64(count)
            return count
        }
    }
}

private func transfer(_ pointer: UnsafeMutableRawPointer?) -> CurlEasy.Transfer {
    Unmanaged<CurlEasy.Transfer>.fromOpaque(pointer!).takeUnretainedValue()
}

private let curlWrite: ccurl_data_callback = { buffer, size, count, state in
    let total = size * count
    let data = Data(bytes: buffer!, count: total)
    return transfer(state).sink(data) ? total : 0
}

private let curlHeader: ccurl_data_callback = { buffer, size, count, state in
    let total = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: total), as: UTF8.self)
    let state = transfer(state)
    if line.hasPrefix("HTTP/") {
        state.responseHeaders = []
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        state.responseHeaders.append((name, value))
    }
    return total
}

private let curlRead: ccurl_data_callback = { buffer, size, count, state in
    let state = transfer(state)
    guard let upload = state.upload else { return 0 }
    do {
        return try upload.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
    } catch {
        state.failure = error
        return Int(CURL_READFUNC_ABORT)
    }
}

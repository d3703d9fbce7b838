import CurlClient

/// Reading a blob failed in a way no retry changes: no source reads its URL, the blob does not
/// exist, or the server refused the request for good (an HTTP 4xx other than 408 and 429, or a
/// refused S3 credential). The import fails at once and says so; `spool retry` tries again.
enum PermanentBlobFailure {
    static func matches(_ error: any Error) -> Bool {
        switch error {
        case let error as FolksbaseError:
            return error.code == .invalidInput || error.code == .notFound
        case let error as TransferError:
            if error.code == .invalidInput || error.code == .authentication { return true }
            guard error.code == .httpStatus, let status = error.status else { return false }
            return (400..<500).contains(status) && status != 408 && status != 429
        default:
            return false
        }
    }
}

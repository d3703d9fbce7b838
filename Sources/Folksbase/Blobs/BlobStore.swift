import SpoolEngine

/// Where blobs are read from, by URL: import files.
public protocol BlobSource: Sendable {
    /// A local file holding the blob's bytes: the blob's own file where it is local, else a
    /// streamed download into `directory` (complete, or not there at all).
    func localFile(for url: String, downloadingInto directory: String) async throws -> String
}

/// Where blobs are written and read: export files, stored imports.
public protocol BlobStore: BlobSource {
    /// Stores the concatenation of the local files `sources` as `key`; returns the blob's URL.
    func put(concatenating sources: [String], key: BlobKey) async throws -> String
}

/// A blob's key: `/`-separated segments of `[A-Za-z0-9._-]`, none empty or starting with a dot.
public struct BlobKey: Sendable, Hashable, CustomStringConvertible {
    public let segments: [String]

    public init(_ text: String) throws {
        let segments = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !segments.isEmpty, segments.allSatisfy(SafeName.isSafe) else {
            throw FolksbaseError(
                .invalidInput, "blob key \"\(text)\" must be /-separated names of letters, digits, '.', '_', '-'")
        }
        self.segments = segments
    }

    /// A key from parts that may hold any text (a user's file name): unsafe bytes become `_`.
    public init(sanitizing parts: [String]) {
        segments = parts.map { part in
            var name = String(
                decoding: part.utf8.map { SafeName.isSafeByte($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
            if name.isEmpty || name.hasPrefix(".") { name = "_" + name }
            return String(name.prefix(200))
        }
    }

    public var description: String { segments.joined(separator: "/") }
}

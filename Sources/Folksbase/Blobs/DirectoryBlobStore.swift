import CurlClient
import Foundation
import SpoolEngine

/// The embedded blob store: a directory (by default `spool/blobs/`), blobs as `file://` URLs.
public struct DirectoryBlobStore: BlobStore {
    /// An absolute path.
    public let root: String
    let writer: DurableWriter

    public init(root: String, writer: DurableWriter) {
        // A file URL of an existing directory ends in "/"; blob paths add their own separators.
        var root = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.writer = writer
    }

    public func put(concatenating sources: [String], key: BlobKey) async throws -> String {
        var directory = root
        try await writer.makeDirectory(directory)
        for segment in key.segments.dropLast() {
            directory += "/" + segment
            try await writer.makeDirectory(directory)
        }
        let path = directory + "/" + key.segments.last!
        try await writer.publish(concatenating: sources, at: path)
        return URL(fileURLWithPath: path).absoluteString
    }

    public func localFile(for url: String, downloadingInto directory: String) async throws -> String {
        guard let parsed = URL(string: url), parsed.isFileURL else {
            throw FolksbaseError(
                .invalidInput,
                "\(URLRedaction.redact(url)) is not a file:// URL; the directory blob store reads only local files")
        }
        let path = parsed.path(percentEncoded: false)
        guard Disk.exists(path) else {
            throw FolksbaseError(.notFound, "the blob \(url) does not exist (was \(path) moved or deleted?)")
        }
        return path
    }
}

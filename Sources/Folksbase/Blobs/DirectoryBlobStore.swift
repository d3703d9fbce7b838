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
        if Disk.exists(path) { return path }
        if let moved = pathInThisStore(ofBlobAt: path), Disk.exists(moved) { return moved }
        throw FolksbaseError(.notFound, "the blob \(url) does not exist (was \(path) moved or deleted?)")
    }

    /// Where a blob stored at `path` by a store of the same name elsewhere lies in this one: a spool
    /// restored from a backup into another directory keeps its blobs, and its records the old URLs.
    func pathInThisStore(ofBlobAt path: String) -> String? {
        let marker = "/" + Disk.name(of: root) + "/"
        guard let range = path.range(of: marker, options: .backwards) else { return nil }
        let key = path[range.upperBound...].split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, key.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        return root + "/" + key.joined(separator: "/")
    }
}

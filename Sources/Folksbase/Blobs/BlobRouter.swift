import CurlClient

/// Writes new blobs to one store and reads any blob from the source its URL's scheme names.
public struct BlobRouter: BlobStore {
    public let destination: any BlobStore
    let sources: [String: any BlobSource]

    /// - Parameter sources: readers by URL scheme (`file`, `http`, `https`, `s3`); the destination
    ///   reads its own scheme unless a source is given for it.
    public init(destination: any BlobStore, destinationScheme: String, sources: [String: any BlobSource]) {
        self.destination = destination
        var sources = sources
        if sources[destinationScheme] == nil { sources[destinationScheme] = destination }
        self.sources = sources
    }

    public func put(concatenating sources: [String], key: BlobKey) async throws -> String {
        try await destination.put(concatenating: sources, key: key)
    }

    public func localFile(for url: String, downloadingInto directory: String) async throws -> String {
        let scheme = url.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        guard let source = sources[scheme] else {
            throw FolksbaseError(
                .invalidInput,
                "cannot read \(URLRedaction.redact(url)): no blob source for \"\(scheme):\" (known: "
                    + sources.keys.sorted().map { $0 + "://" }.joined(separator: ", ") + ")")
        }
        return try await source.localFile(for: url, downloadingInto: directory)
    }
}

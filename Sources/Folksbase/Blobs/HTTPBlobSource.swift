import CurlClient
import Foundation
import SpoolEngine

/// Reads `http://` and `https://` blobs: a streamed download, renamed into place only when complete.
public struct HTTPBlobSource: BlobSource {
    let client: HTTPClient

    public init(client: HTTPClient = HTTPClient()) { self.client = client }

    public func localFile(for url: String, downloadingInto directory: String) async throws -> String {
        let name = URL(string: url)?.lastPathComponent ?? ""
        let target = directory + "/" + BlobKey(sanitizing: [name.isEmpty ? "download" : name]).description
        let partial = directory + "/." + Disk.name(of: target) + ".tmp-" + Disk.uniqueSuffix()
        do {
            _ = try await client.download(HTTPRequest(url: url), to: partial)
            try Disk.rename(partial, target)
        } catch {
            try? Disk.removeFile(partial)
            throw error
        }
        return target
    }
}

import Foundation
import SpoolEngine
import Testing

@testable import Folksbase

@Suite struct DirectoryBlobStoreTests {
    @Test func aRootGivenAsADirectoryURLMakesNoDoubleSlash() async throws {
        try await withTemporaryDirectory { directory in
            try Disk.makeDirectory(directory + "/blobs")
            try Data("a,b\n".utf8).write(to: URL(fileURLWithPath: directory + "/part.csv"))
            // A file URL of an existing directory ends in "/".
            let root = URL(fileURLWithPath: directory + "/blobs").path(percentEncoded: false)
            #expect(root.hasSuffix("/"))
            let store = DirectoryBlobStore(root: root, writer: DurableWriter())
            let url = try await store.put(
                concatenating: [directory + "/part.csv"], key: BlobKey(sanitizing: ["exports", "e.csv"]))
            #expect(url == URL(fileURLWithPath: directory + "/blobs/exports/e.csv").absoluteString)
            #expect(!url.contains("blobs//"))
            #expect(try Disk.read(directory + "/blobs/exports/e.csv") == Data("a,b\n".utf8))
        }
    }

    @Test func aBlobIsFoundByItsOldURLAfterItsSpoolMoved() async throws {
        try await withTemporaryDirectory { directory in
            try Disk.makeDirectories(directory + "/a/blobs")
            try Data("a,b\n".utf8).write(to: URL(fileURLWithPath: directory + "/part.csv"))
            let old = DirectoryBlobStore(root: directory + "/a/blobs", writer: DurableWriter())
            let url = try await old.put(
                concatenating: [directory + "/part.csv"], key: BlobKey(sanitizing: ["imports", "x", "c.csv"]))
            try Disk.rename(directory + "/a", directory + "/b")

            let restored = DirectoryBlobStore(root: directory + "/b/blobs", writer: DurableWriter())
            let path = try await restored.localFile(for: url, downloadingInto: directory)
            #expect(path == directory + "/b/blobs/imports/x/c.csv")
            #expect(restored.pathInThisStore(ofBlobAt: "/elsewhere/blobs/../../etc/passwd") == nil)
            await #expect(throws: FolksbaseError.self) {
                try await restored.localFile(for: url + ".gone", downloadingInto: directory)
            }
        }
    }
}

import Foundation
import Testing

@testable import SpoolEngine

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DurableWriterTests {
    private func inode(_ path: String) -> UInt64 {
        var info = stat()
        return lstat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    @Test func replacingSwapsTwoFilesInsteadOfMakingNewOnes() async throws {
        let spool = try TempSpool()
        let writer = DurableWriter()
        let path = spool.layout.runs + "/run.json"
        let spare = DurableWriter.spare(of: path)
        try await writer.replace(Data("one".utf8), at: path)
        #expect(!Disk.exists(spare))
        try await writer.replace(Data("two".utf8), at: path)
        let pair = Set([inode(path), inode(spare)])
        for version in ["three", "four", "five"] {
            try await writer.replace(Data(version.utf8), at: path)
            #expect(Set([inode(path), inode(spare)]) == pair)
        }
        #expect(try Disk.read(path) == Data("five".utf8))
        #expect(try Disk.read(spare) == Data("four".utf8))
        #expect(try Disk.list(spool.layout.runs).sorted() == [".run.json.spare", "run.json"])
    }

    @Test func replacingThenMovingLandsInANewFolder() async throws {
        let spool = try TempSpool()
        let writer = DurableWriter()
        let run = spool.layout.runs + "/r"
        try Disk.makeDirectory(run)
        let target = spool.layout.doneDay("2026-11-29") + "/r"
        try await writer.replace(Data("done".utf8), at: run + "/run.json", thenMove: run, to: target)
        #expect(!Disk.exists(run))
        #expect(try Disk.read(target + "/run.json") == Data("done".utf8))
    }

    @Test func concurrentPublishesShareFlushesAndAllLand() async throws {
        let spool = try TempSpool()
        let writer = DurableWriter()
        let flush = try GroupFlush.of(spool.layout.runs)
        let before = flush.counts
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await writer.publish(Data("\(index)".utf8), at: spool.layout.runs + "/f\(index).json")
                }
            }
            try await group.waitForAll()
        }
        for index in 0..<200 {
            #expect(try Disk.read(spool.layout.runs + "/f\(index).json") == Data("\(index)".utf8))
        }
        #expect(try Disk.list(spool.layout.runs).filter { $0.contains(".tmp-") }.isEmpty)
        let after = flush.counts
        // Two flushes asked for per publish; far fewer made (other suites may flush meanwhile).
        #expect(after.requests - before.requests >= 400)
        #expect(after.flushes - before.flushes < 300)
    }
}

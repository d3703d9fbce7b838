import Foundation
import Testing

@testable import SpoolEngine

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DurableWriterTests {
    @Test func replacingSwapsTwoFilesInsteadOfMakingNewOnes() async throws {
        let spool = try TempSpool()
        let writer = DurableWriter()
        let path = spool.layout.runs + "/run.json"
        let spare = DurableWriter.spare(of: path)
        try await writer.replace(Data("one".utf8), at: path)
        #expect(!Disk.exists(spare))
        try await writer.replace(Data("two".utf8), at: path)
        let pair = Set([try inode(path), try inode(spare)])
        for version in ["three", "four", "five"] {
            try await writer.replace(Data(version.utf8), at: path)
            #expect(Set([try inode(path), try inode(spare)]) == pair)
        }
        #expect(try Disk.read(path) == Data("five".utf8))
        #expect(try Disk.read(spare) == Data("four".utf8))
        #expect(try Disk.list(spool.layout.runs).sorted() == [".run.json.spare", "run.json"])
    }

    @Test func aShorterVersionLeavesNothingOfALongerOneBehind() async throws {
        let spool = try TempSpool()
        let writer = DurableWriter()
        let path = spool.layout.runs + "/run.json"
        let long = Data(repeating: UInt8(ascii: "x"), count: 10_000)
        for version in [long, Data("a".utf8), long, Data("bb".utf8), Data("ccc".utf8)] {
            try await writer.replace(version, at: path)
            #expect(try Disk.read(path) == version)
        }
        #expect(try Disk.read(DurableWriter.spare(of: path)) == Data("bb".utf8))
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

    @Test func concatenatingCopiesEverySourceWholeInOrder() async throws {
        let spool = try TempSpool()
        let folder = spool.layout.tmp
        let sizes = [3 << 20, 0, 1, (1 << 20) + 17]
        var expected = Data()
        var sources: [String] = []
        for (index, size) in sizes.enumerated() {
            let data = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
            let path = folder + "/part\(index)"
            try data.write(to: URL(fileURLWithPath: path))
            expected += data
            sources.append(path)
        }
        let target = spool.layout.runs + "/whole.csv"
        try await DurableWriter().publish(concatenating: sources, at: target)
        #expect(try Disk.read(target) == expected)
        #expect(try Disk.list(spool.layout.runs) == ["whole.csv"])

        let missing = await #expect(throws: SpoolError.self) {
            try await DurableWriter().publish(concatenating: [sources[0], folder + "/gone"], at: target + "2")
        }
        #expect(missing?.description.contains("gone") == true)
        #expect(try Disk.list(spool.layout.runs) == ["whole.csv"], "no temp file stays")
    }

    @Test func aBatchLandsWholeOrLeavesNoTempFiles() throws {
        let spool = try TempSpool()
        let folder = spool.layout.runs
        let files = (1...3).map { (data: Data("file \($0)".utf8), path: folder + "/\($0).csv") }
        try DurableWriter.publishNow(files)
        for file in files { #expect(try Disk.read(file.path) == file.data) }
        #expect(try Disk.list(folder).sorted() == ["1.csv", "2.csv", "3.csv"])

        // The third temp file cannot be created: the first two temp files go, and nothing is renamed.
        let refused = [files[0], files[1], (data: Data("x".utf8), path: folder + "/missing/4.csv")].map {
            (data: Data("new ".utf8) + $0.data, path: $0.path)
        }
        #expect(throws: SpoolError.self) { try DurableWriter.publishNow(refused) }
        for file in files { #expect(try Disk.read(file.path) == file.data) }
        #expect(try Disk.list(folder).sorted() == ["1.csv", "2.csv", "3.csv"])
    }

    @Test func aPublishThatMustNotReplaceLeavesTheFileThereAndNoTempFile() throws {
        let spool = try TempSpool()
        let path = spool.layout.runs + "/taken.json"
        #expect(try DurableWriter.publishNow(Data("first".utf8), at: path, replacing: false))
        #expect(try !DurableWriter.publishNow(Data("second".utf8), at: path, replacing: false))
        #expect(try Disk.read(path) == Data("first".utf8))
        #expect(try Disk.list(spool.layout.runs) == ["taken.json"])
        try DurableWriter.publishNow(Data("third".utf8), at: path)
        #expect(try Disk.read(path) == Data("third".utf8))
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
        // Two flushes asked for per publish, fewer made: requests that meet share one. Other suites
        // flush the same file system meanwhile (both counts hold theirs too), and on a loaded
        // machine fewer requests meet, so only the sharing itself is asserted.
        let requests = after.requests - before.requests
        #expect(requests >= 400)
        #expect(after.flushes - before.flushes < requests)
    }

    @Test func aSuspendedRequestDuringABlockedLeadersFlushIsServed() async throws {
        let spool = try TempSpool()
        let flush = try GroupFlush.of(spool.layout.runs)
        // A thread blocked in `wait` leads a flush; a task asks while that flush runs, so the
        // flush cannot serve it and no blocked thread is left to lead the next one.
        for _ in 0..<50 {
            let asked = flush.counts.requests
            let leader = DispatchGroup()
            leader.enter()
            Thread {
                try? flush.wait(for: spool.layout.runs)
                leader.leave()
            }.start()
            while flush.counts.requests == asked { await Task.yield() }
            let served = LockedValue(false)
            let request = Task {
                try await flush.flushed(since: flush.ticket(), for: spool.layout.runs)
                served.withLock { $0 = true }
            }
            // A stranded request would never resume: wait for it with a deadline instead of forever.
            let deadline = ContinuousClock.now + .seconds(10)
            while !served.withLock({ $0 }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(served.withLock { $0 }, "a request made during another thread's flush was never served")
            guard served.withLock({ $0 }) else { return }
            try await request.value
            await withCheckedContinuation { continuation in
                leader.notify(queue: .global()) { continuation.resume() }
            }
        }
    }
}

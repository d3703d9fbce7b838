import Foundation
import Logging
import Testing

@testable import SpoolEngine

/// A clock that moves only when a test advances it.
final class ManualClock: SpoolClock, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [(id: UUID, deadline: Date, continuation: CheckedContinuation<Void, Error>)] = []

    /// Starts at 2026-11-29T08:00:00Z, a Sunday.
    init(_ start: Date = Date(timeIntervalSince1970: 1_795_939_200)) { current = start }

    func now() -> Date { lock.withLock { current } }

    func advance(by seconds: TimeInterval) {
        let due: [CheckedContinuation<Void, Error>] = lock.withLock {
            current = current.addingTimeInterval(seconds)
            let due = sleepers.filter { $0.deadline <= current }.map(\.continuation)
            sleepers.removeAll { $0.deadline <= current }
            return due
        }
        for continuation in due { continuation.resume() }
    }

    var sleeperCount: Int { lock.withLock { sleepers.count } }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let resumeNow: Bool = lock.withLock {
                    if deadline <= current || Task.isCancelled { return true }
                    sleepers.append((id, deadline, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = lock.withLock {
                let found = sleepers.first { $0.id == id }?.continuation
                sleepers.removeAll { $0.id == id }
                return found
            }
            cancelled?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}

/// A fresh spool in a temp directory, removed when the test ends.
final class TempSpool: Sendable {
    let layout: SpoolLayout

    init() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("spool-test-" + UUID().uuidString).path
        layout = SpoolLayout(root: root)
        try layout.create()
    }

    deinit { try? FileManager.default.removeItem(atPath: layout.root) }

    /// Drops a file into incoming/ the right way: write in tmp/, then rename.
    @discardableResult
    func drop(_ json: String, name: String = UUID().uuidString + ".json") throws -> String {
        let staged = layout.tmp + "/" + name
        try Data(json.utf8).write(to: URL(fileURLWithPath: staged))
        try Disk.rename(staged, layout.incoming + "/" + name)
        return name
    }

    func runDirectories(_ folder: String = "runs") throws -> [String] {
        try RunLocator(layout: layout).all(in: [folder]).map(\.directory)
    }

    func record(_ directory: String) throws -> RunRecord { try RunRecord.read(from: directory + "/run.json") }
}

/// Counts calls from concurrent code.
final class Counter: Sendable {
    private let counts = LockedValue<[String: Int]>([:])
    func hit(_ key: String = "") { counts.withLock { $0[key, default: 0] += 1 } }
    subscript(key: String) -> Int { counts.withLock { $0[key, default: 0] } }
}

/// A quiet logger for tests.
let testLogger: Logger = {
    var logger = Logger(label: "spool-test", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

/// A retry policy with second-scale back-off and no jitter, for timelines a manual clock can step through.
let fastRetry = RetryPolicy(retries: 2, backoff: [.seconds(10), .seconds(20)], jitter: .zero ... .zero)

/// The engine's pieces wired on a temp spool and a manual clock, driven one call at a time.
struct Harness {
    let spool: TempSpool
    let clock: ManualClock
    let registry: FunctionRegistry
    let writer = DurableWriter()

    init(_ functions: [SpoolFunction], clock: ManualClock = ManualClock()) throws {
        spool = try TempSpool()
        self.clock = clock
        registry = FunctionRegistry(functions)
    }

    var layout: SpoolLayout { spool.layout }

    var intake: Intake {
        Intake(
            layout: layout, registry: registry, writer: writer, clock: clock, dedupeWindow: 24 * 3600,
            logger: testLogger)
    }

    var executor: RunExecutor {
        RunExecutor(
            layout: layout, registry: registry, writer: writer, clock: clock, logger: testLogger, isStopping: { false })
    }

    var admin: SpoolAdmin { SpoolAdmin(layout: layout, writer: writer, clock: clock) }

    /// Drops `json` into incoming/ and accepts it; returns the runs created.
    func send(_ json: String) async throws -> [RunID] {
        try await intake.accept(try spool.drop(json))
    }

    /// Executes runs that are due until none is, like a server would, but one at a time.
    @discardableResult
    func drain(_ ids: [RunID]) async -> [RunID: RunExecutor.Outcome] {
        var outcomes: [RunID: RunExecutor.Outcome] = [:]
        for id in ids { outcomes[id] = await executor.execute(id) }
        return outcomes
    }
}

/// The inode number of `path` itself (a link is not followed).
func inode(_ path: String) throws -> UInt64 {
    var info = stat()
    guard lstat(path, &info) == 0 else { throw SpoolError.system("lstat", path: path) }
    return UInt64(info.st_ino)
}

/// Whether a thread waits for a `flock` on the file at `path` (a `->` line of /proc/locks).
func someoneWaitsForLock(on path: String) throws -> Bool {
    let inodeField = ":\(try inode(path)) "
    let locks = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
    return locks.split(separator: "\n").contains { $0.contains("->") && $0.contains(inodeField) }
}

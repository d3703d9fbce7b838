import Foundation

/// Threads for blocking file work, so a run waiting on the disk holds one of these and never a
/// thread of the cooperative pool (two on a two-core machine).
///
/// Dispatch runs only about as many blocking blocks at once as there are cores; a group commit
/// needs many writers waiting on the same flush, so this pool grows on demand up to `limit`.
final class BlockingThreads: @unchecked Sendable {
    static let shared = BlockingThreads(limit: 64)

    private let limit: Int
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var next = 0
    private var threads = 0
    private var idle = 0

    init(limit: Int) { self.limit = limit }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        jobs.append(job)
        if jobs.count - next > idle && threads < limit {
            threads += 1
            let thread = Thread { [self] in work() }
            thread.stackSize = 1 << 20
            thread.name = "spool-writer"
            thread.start()
        } else {
            condition.signal()
        }
    }

    /// Runs `work` on one of these threads and returns its result to the waiting task.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try work() }) }
        }
    }

    private func work() {
        condition.lock()
        while true {
            while next == jobs.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[next]
            next += 1
            if next == jobs.count || next >= 4096 {
                jobs.removeFirst(next)
                next = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}

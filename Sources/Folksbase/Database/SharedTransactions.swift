import SpoolEngine

/// Writes that reach a connection at the same moment share one transaction (group commit): they
/// commit together, with one sync of the write-ahead log, and each index page they touch is
/// written once instead of once per write. A caller returns after the commit.
///
/// One that throws is undone alone: the shared transaction is rolled back and the writes run again,
/// each inside a savepoint of its own, and each caller gets the outcome of that second run. An
/// error that makes SQLite end the transaction itself (a full disk, an I/O error) fails every
/// write of it. Savepoints are kept for the second run because SQLite copies every page a
/// savepoint changes aside first, which cost an import more than its upserts.
final class SharedTransactions<Value: Sendable>: Sendable {
    private struct Waiting: Sendable {
        let body: @Sendable (SQLiteConnection.Session) throws -> Value
        let continuation: CheckedContinuation<Value, Error>
    }

    private let connection: SQLiteConnection
    private let state = LockedValue<(waiting: [Waiting], committing: Bool)>(([], false))

    init(on connection: SQLiteConnection) { self.connection = connection }

    /// Writes waiting for the next transaction, and whether one is being committed.
    var pending: (waiting: Int, committing: Bool) { state.withLock { ($0.waiting.count, $0.committing) } }

    /// Runs `body` in the next shared transaction and returns its value once that has committed.
    /// `body` runs again if a write of its transaction throws, itself included: it must only write to
    /// the database. Writes run in the order they are queued; `whenQueued` is called once this one is.
    func run(
        whenQueued: @Sendable () -> Void = {},
        _ body: @escaping @Sendable (SQLiteConnection.Session) throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLock { state in
                state.waiting.append(Waiting(body: body, continuation: continuation))
                defer { state.committing = true }
                return !state.committing
            }
            whenQueued()
            if leads { Task { await commitWhileWaiting() } }
        }
    }

    /// Commits what waits, again and again, until nothing does.
    private func commitWhileWaiting() async {
        while true {
            let batch = state.withLock { state in
                let batch = state.waiting
                state.waiting = []
                if batch.isEmpty { state.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            let outcomes: [Result<Value, Error>]
            do {
                outcomes = try await connection.transaction { db in
                    try batch.map { waiting in
                        do {
                            return .success(try waiting.body(db))
                        } catch {
                            throw WriteFailed(error: error)
                        }
                    }
                }
            } catch let failed as WriteFailed where batch.count == 1 {
                outcomes = [.failure(failed.error)]
            } catch is WriteFailed {
                outcomes = await eachInASavepoint(batch)
            } catch {
                outcomes = batch.map { _ in .failure(error) }
            }
            for (waiting, outcome) in zip(batch, outcomes) { waiting.continuation.resume(with: outcome) }
        }
    }

    /// A write of a shared transaction threw; the transaction was rolled back.
    private struct WriteFailed: Error {
        let error: Error
    }

    /// The batch again in one transaction, each write inside a savepoint: the one that throws is undone alone.
    private func eachInASavepoint(_ batch: [Waiting]) async -> [Result<Value, Error>] {
        do {
            return try await connection.transaction { db in
                try batch.map { waiting in try db.inSavepoint { try waiting.body(db) } }
            }
        } catch {
            return batch.map { _ in .failure(error) }
        }
    }
}

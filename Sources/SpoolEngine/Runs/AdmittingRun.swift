import Foundation

/// A new run handed to a worker while the intake is still making it durable, so that its first
/// step starts without waiting for the flush.
///
/// The worker takes the record and the event from memory and holds the lock the intake took on
/// the staging directory (an `flock` follows its directory through the rename into `runs/`).
/// Nothing is written in the run's directory before `admission` says the run is on disk and in
/// `runs/`: not run.json, not a log line, not a step's result. If the run is not admitted, its
/// claim stays in `tmp/` and the worker's work is dropped; the step runs again when the claim is
/// recovered, as a step interrupted by a crash does.
struct AdmittingRun: Sendable {
    let record: RunRecord
    let event: Event
    let lock: RunLock
    let admission: Admission

    var id: RunID { record.id }
}

/// Whether a staged run made it into `runs/`: decided once, by the intake.
final class Admission: Sendable {
    /// The run never reached `runs/`; the intake has said why.
    struct Refused: Error {}

    private let state = LockedValue<(admitted: Bool?, waiters: [CheckedContinuation<Bool, Never>])>((nil, []))

    /// The first decision stands; later ones are ignored.
    func decide(admitted: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard state.admitted == nil else { return [] }
            state.admitted = admitted
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: admitted) }
    }

    /// Returns once the run is in `runs/`; throws `Refused` if it will not be.
    func admitted() async throws {
        let admitted = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let decided = state.withLock { state -> Bool? in
                if state.admitted == nil { state.waiters.append(continuation) }
                return state.admitted
            }
            if let decided { continuation.resume(returning: decided) }
        }
        if !admitted { throw Refused() }
    }
}

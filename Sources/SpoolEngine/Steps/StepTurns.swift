/// One point in the bodies of steps run at once by `runEach`, passed in index order: step `i` waits
/// at `take` until every step before it has passed (`pass`) or ended, or had completed in an
/// earlier attempt. Steps that do their work at once and commit it in order use it, as chunks of
/// an import that must be applied in file order.
///
/// A step that fails before it passes lets the steps after it go on: the order then holds only
/// among the steps that succeed, and the failed one, retried, passes after them.
public final class StepTurns: Sendable {
    private struct State {
        var passed: [Bool]
        /// The lowest index that has not passed: every turn up to it may be taken.
        var open = 0
        var waiting: [(index: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: LockedValue<State>
    public let count: Int

    public init(count: Int) {
        self.count = count
        state = LockedValue(State(passed: Array(repeating: false, count: count)))
    }

    /// The turn of step `index`, for a body to take and pass.
    public func turn(_ index: Int) -> Turn { Turn(turns: self, index: index) }

    public struct Turn: Sendable {
        let turns: StepTurns
        public let index: Int

        /// Returns once every step before this one has passed or ended.
        public func take() async { await turns.take(index) }

        /// Lets the next step take its turn; passing again does nothing.
        public func pass() { turns.pass(index) }
    }

    /// Whether step `index` waits for its turn.
    public func isWaiting(_ index: Int) -> Bool { state.withLock { $0.waiting.contains { $0.index == index } } }

    func take(_ index: Int) async {
        await withCheckedContinuation { continuation in
            let mayGo = state.withLock { state in
                guard index > state.open else { return true }
                state.waiting.append((index, continuation))
                return false
            }
            if mayGo { continuation.resume() }
        }
    }

    func pass(_ index: Int) {
        let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.passed.indices.contains(index), !state.passed[index] else { return [] }
            state.passed[index] = true
            while state.open < state.passed.count && state.passed[state.open] { state.open += 1 }
            let open = state.open
            let released = state.waiting.filter { $0.index <= open }.map(\.continuation)
            state.waiting.removeAll { $0.index <= open }
            return released
        }
        for continuation in released { continuation.resume() }
    }
}

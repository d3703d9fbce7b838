import Foundation

/// Hands due runs to workers; knows only live runs, so its work never grows with history.
///
/// Each live run has one due date. Workers call `next()`, which returns the earliest due run or
/// waits until one is due, a run is added, or the scheduler stops.
actor Scheduler {
    private var due: [RunID: Date] = [:]
    private var queue = DueQueue()
    private var inFlight: Set<RunID> = []
    /// New runs due now whose worker may start before they are published (see `AdmittingRun`).
    private var admitting: [RunID: AdmittingRun] = [:]
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var timer: Task<Void, Never>?
    private var timerDeadline: Date?
    private var stopped = false
    private let clock: any SpoolClock

    init(clock: any SpoolClock) { self.clock = clock }

    /// Schedules (or reschedules) a run; an earlier date wins over a later one already known.
    func schedule(_ id: RunID, at date: Date) {
        guard !stopped else { return }
        if inFlight.contains(id) {
            due[id] = min(due[id] ?? date, date)
            return
        }
        if let known = due[id], known <= date { return }
        due[id] = date
        queue.push(id, at: date)
        wakeOneWorker()
    }

    /// Schedules a run no one knows yet (just created, or found on disk); a known run keeps its date.
    func scheduleIfUnknown(_ id: RunID, at date: Date) {
        guard !isKnown(id) else { return }
        schedule(id, at: date)
    }

    /// Schedules a new run for now, to be handed to its worker with what it needs to start early;
    /// false, keeping nothing, when no worker is waiting: the run, and its lock, are then left for
    /// whichever process has a worker free once it is published.
    func schedule(admitting run: AdmittingRun) -> Bool {
        guard !stopped, !isKnown(run.id), !waiters.isEmpty else { return false }
        admitting[run.id] = run
        schedule(run.id, at: clock.now())
        return true
    }

    var waitingWorkers: Int { waiters.count }

    /// What a worker needs to start a run that `next()` returned before it is published, if it is one.
    func takeAdmitting(_ id: RunID) -> AdmittingRun? { admitting.removeValue(forKey: id) }

    /// Replaces a run's due date (after an execution said when to come back).
    func reschedule(_ id: RunID, at date: Date) {
        guard !stopped else { return }
        due[id] = date
        queue.push(id, at: date)
        wakeOneWorker()
    }

    /// Forgets a run (finished, or gone from `runs/`).
    func forget(_ id: RunID) { due[id] = nil }

    func isKnown(_ id: RunID) -> Bool { due[id] != nil || inFlight.contains(id) }

    var liveCount: Int { due.count }

    /// The next due run, or nil once stopped.
    func next() async -> RunID? {
        while !stopped {
            if let id = popDue() {
                inFlight.insert(id)
                return id
            }
            armTimer()
            await withCheckedContinuation { waiters.append($0) }
        }
        return nil
    }

    /// A worker is done with a run; a date brings it back then.
    func finished(_ id: RunID, wakeAt date: Date?) {
        inFlight.remove(id)
        if let date {
            let earlier = due[id].map { min($0, date) } ?? date
            due[id] = nil
            reschedule(id, at: earlier)
        } else {
            due[id] = nil
        }
    }

    func stop() {
        stopped = true
        admitting = [:]
        timer?.cancel()
        wakeWorkers()
    }

    private func popDue() -> RunID? {
        let now = clock.now()
        while let (id, date) = queue.peek(), date <= now {
            queue.pop()
            guard due[id] == date, !inFlight.contains(id) else { continue }
            due[id] = nil
            return id
        }
        return nil
    }

    /// One timer, set for the earliest due date, wakes the waiting workers then.
    private func armTimer() {
        while let (id, date) = queue.peek(), due[id] != date || inFlight.contains(id) { queue.pop() }
        guard let (_, earliest) = queue.peek() else { return }
        if let timerDeadline, timerDeadline <= earliest, timer != nil { return }
        timer?.cancel()
        timerDeadline = earliest
        let clock = self.clock
        timer = Task { [weak self] in
            // Sleep at most a minute at a time, so a wall-clock jump is noticed.
            let deadline = min(earliest, clock.now().addingTimeInterval(60))
            do { try await clock.sleep(until: deadline) } catch { return }
            await self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        wakeWorkers()
    }

    private func wakeWorkers() {
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
    }

    /// Wakes one waiting worker for one more run: it takes the run if it is due, and otherwise sets
    /// the timer for it. Waking every worker for each run would have all but one find nothing.
    private func wakeOneWorker() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().resume()
    }
}

/// A min-heap of (due date, run id); stale entries are skipped by the scheduler.
struct DueQueue {
    private var heap: [(date: Date, id: RunID)] = []

    var isEmpty: Bool { heap.isEmpty }

    func peek() -> (RunID, Date)? { heap.first.map { ($0.id, $0.date) } }

    mutating func push(_ id: RunID, at date: Date) {
        heap.append((date, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !heap.isEmpty else { return }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count && precedes(heap[left], heap[first]) { first = left }
            if right < heap.count && precedes(heap[right], heap[first]) { first = right }
            if first == parent { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }

    private func precedes(_ a: (date: Date, id: RunID), _ b: (date: Date, id: RunID)) -> Bool {
        a.date != b.date ? a.date < b.date : a.id < b.id
    }
}

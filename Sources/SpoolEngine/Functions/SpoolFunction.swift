/// Code registered for a trigger: an event name or a cron schedule.
public struct SpoolFunction: Sendable {
    public enum Trigger: Sendable {
        case event(String)
        case cron(CronExpression)
    }

    /// A stable id: names runs, files and cron state; `[A-Za-z0-9._-]` only.
    public let id: String
    public let trigger: Trigger
    public var retry: RetryPolicy
    public let handler: @Sendable (RunContext) async throws -> Void
    /// Runs once when a run finally fails, with its own memoized steps (in `on-failure/`).
    public var onFailure: (@Sendable (FailureContext) async throws -> Void)?

    public init(
        id: String,
        trigger: Trigger,
        retry: RetryPolicy = RetryPolicy(),
        handler: @escaping @Sendable (RunContext) async throws -> Void,
        onFailure: (@Sendable (FailureContext) async throws -> Void)? = nil
    ) {
        precondition(SafeName.isSafe(id), "function id \"\(id)\" must use only [A-Za-z0-9._-]")
        self.id = id
        self.trigger = trigger
        self.retry = retry
        self.handler = handler
        self.onFailure = onFailure
    }

    /// The event name that starts this function (cron functions get `spool/scheduled.timer`).
    public var eventName: String {
        switch trigger {
        case .event(let name): return name
        case .cron: return CronTick.eventName
        }
    }
}

/// The set of functions a process serves, looked up by id and by event.
public struct FunctionRegistry: Sendable {
    public let functions: [SpoolFunction]
    private let byID: [String: SpoolFunction]

    public init(_ functions: [SpoolFunction]) {
        self.functions = functions
        var byID: [String: SpoolFunction] = [:]
        for function in functions {
            precondition(byID[function.id] == nil, "two functions share the id \(function.id)")
            byID[function.id] = function
        }
        self.byID = byID
    }

    public subscript(id: String) -> SpoolFunction? { byID[id] }

    /// Every function the event starts (fan-out); a cron tick starts only the function it names.
    public func matching(_ event: Event) -> [SpoolFunction] {
        if event.name == CronTick.eventName {
            guard let id = event.data["function"]?.stringValue, let function = byID[id],
                case .cron = function.trigger
            else { return [] }
            return [function]
        }
        return functions.filter { $0.eventName == event.name }
    }

    public var cronFunctions: [(SpoolFunction, CronExpression)] {
        functions.compactMap { function in
            if case .cron(let expression) = function.trigger { return (function, expression) }
            return nil
        }
    }
}

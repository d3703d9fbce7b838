/// The folders of a spool on disk; see spool/README.md for what each holds.
public struct SpoolLayout: Sendable, Hashable {
    public let root: String

    public init(root: String) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    public var tmp: String { root + "/tmp" }
    public var incoming: String { root + "/incoming" }
    public var runs: String { root + "/runs" }
    public var done: String { root + "/done" }
    public var failed: String { root + "/failed" }
    public var cancelled: String { root + "/cancelled" }
    public var rejected: String { root + "/rejected" }
    public var ids: String { root + "/ids" }
    public var cron: String { root + "/cron" }

    /// Whether a spool is there: a directory with `runs/`.
    public var exists: Bool { Disk.isDirectory(runs) }

    /// Every folder the engine owns, created by `create()`.
    public var engineFolders: [String] { [tmp, incoming, runs, done, failed, cancelled, rejected, ids, cron] }

    /// Creates the spool's folders (mode 0700: event data is private).
    public func create() throws {
        try Disk.makeDirectories(root)
        for folder in engineFolders { try Disk.makeDirectory(folder) }
    }

    public func liveRun(_ id: RunID) -> String { runs + "/" + id.rawValue }
    public func failedRun(_ id: RunID) -> String { failed + "/" + id.rawValue }
    public func doneDay(_ day: String) -> String { done + "/" + day }
    public func cancelledDay(_ day: String) -> String { cancelled + "/" + day }
}

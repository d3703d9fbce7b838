import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Turns files in `incoming/` into runs: claim by rename, validate, dedupe, fan out, stage, publish.
///
/// A claim is a rename to `tmp/.claim-<time>-<unique>~<name>` followed by an `flock` on it; whoever
/// holds the lock finishes the claim. Run ids derive from the claim's name, so recovering a claim
/// after a crash rebuilds exactly the runs that are missing and never a run that already exists.
struct Intake: Sendable {
    let layout: SpoolLayout
    let registry: FunctionRegistry
    let writer: DurableWriter
    let clock: any SpoolClock
    let dedupeWindow: TimeInterval
    let logger: Logger
    /// Given each new run before it is published, holding its lock, to start its first step while
    /// the intake makes it durable; returns false when it will not (the lock is then let go). Nil
    /// leaves new runs to be found in `runs/`.
    var startEarly: (@Sendable (AdmittingRun) async -> Bool)? = nil
    /// Claims this process is working on. A claim's flock keeps other processes out, but a symbolic
    /// link or a device cannot be opened to be locked: the intake and a rescan's recovery of the
    /// same claim must not both reject it.
    private let claimsInProgress = LockedValue<Set<String>>([])
    /// Names in `incoming/` that are not events (not `*.json`), each logged once by this process.
    private let namesNotEvents = LockedValue<Set<String>>([])

    /// The user this process writes as, read once: a kept claim must already be its own.
    private static let effectiveUser = geteuid()

    private var builder: RunBuilder { RunBuilder(layout: layout) }
    private var rejection: Rejection { Rejection(layout: layout) }
    private var markers: DedupeMarkers { DedupeMarkers(layout: layout, window: dedupeWindow) }

    /// Claims and processes `incoming/<name>`; returns the runs it created.
    /// - Parameter settled: false when the name came from a scan rather than a close/rename
    ///   notification, so a file still being written in place gets time to finish.
    func accept(_ name: String, settled: Bool = true) async throws -> [RunID] {
        guard !name.hasPrefix(".") else { return [] }
        guard name.hasSuffix(".json") else {
            // A producer's own temp name (`x.json.tmp`), renamed to `*.json` when it is complete.
            if namesNotEvents.withLock({ $0.insert(name).inserted }) {
                logger.notice("incoming/\(name) is left alone: only *.json files there are events")
            }
            return []
        }
        let now = clock.now()
        return try await writer.gated { try await acceptNow(name, settled: settled, now: now) }
    }

    /// Finishes claims left in `tmp/` by a process that died mid-claim.
    ///
    /// A claim that cannot be finished now is logged and left for the next call; it never keeps
    /// the others from being finished.
    func recoverClaims() async throws -> [RunID] {
        let now = clock.now()
        return try await writer.gated {
            var created: [RunID] = []
            for name in try Disk.list(layout.tmp) where name.hasPrefix(ClaimName.prefix) {
                do {
                    created += try await process(
                        claim: layout.tmp + "/" + name, now: now, isNew: false, keepable: false)
                } catch {
                    logger.error(
                        "claim tmp/\(name) could not be finished: \(error); it is tried again at the next scan")
                }
            }
            return created
        }
    }

    /// How long a file found by a scan must be left alone before it is judged, unless it parses.
    ///
    /// The watcher reports only renames into `incoming/`, which bring complete files. A file written
    /// in place (a producer's mistake) is found by a scan instead, maybe half-written: it is taken
    /// as soon as it parses, and rejected only once it has not changed for this long.
    static let settleTime: TimeInterval = 2

    private func acceptNow(_ name: String, settled: Bool, now: Date) async throws -> [RunID] {
        let source = layout.incoming + "/" + name
        var created: [RunID] = []
        for path in Self.paths(named: name, in: layout.incoming) {
            var mayStillBeWritten = false
            if !settled, let changed = Self.lastChange(path), now.timeIntervalSince(changed) < Self.settleTime {
                mayStillBeWritten = true
                // A name that is not UTF-8 cannot be read by its repaired name: it just waits to settle.
                let parses =
                    Self.lastChange(Array(source.utf8CString)) != nil
                    && (try? EventParser.parse(Disk.read(source, limit: EventParser.maxFileSize))) != nil
                if !parses { continue }
            }
            let claim = layout.tmp + "/" + ClaimName.make(original: name, at: now)
            guard Glibc.rename(path, claim) == 0 else {
                if errno == ENOENT { continue }
                throw SpoolError.system("rename", path: "\(source) -> \(claim)")
            }
            created += try await process(claim: claim, now: now, isNew: true, keepable: !mayStillBeWritten)
        }
        return created
    }

    /// The later of a file's modification and status-change times (a hard link or a rename
    /// changes only the latter); nil when the file is gone.
    static func lastChange(_ path: [CChar]) -> Date? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let times = [info.st_mtim, info.st_ctim].map { Double($0.tv_sec) + Double($0.tv_nsec) / 1e9 }
        return Date(timeIntervalSince1970: times.max()!)
    }

    /// The paths of the directory entries listed as `name`, as raw bytes.
    ///
    /// Listing a name that is not UTF-8 (Latin-1 bytes, say) repairs it with U+FFFD, and the
    /// repaired name does not exist; such an entry is found again by its bytes, so it is not left
    /// in `incoming/` forever.
    static func paths(named name: String, in directory: String) -> [[CChar]] {
        let plain = Array((directory + "/" + name).utf8CString)
        guard name.contains("\u{FFFD}"), let dir = opendir(directory) else { return [plain] }
        defer { closedir(dir) }
        var found: [[CChar]] = []
        while let entry = readdir(dir) {
            let entryName = Disk.entryName(entry)
            let bytes = UnsafeRawBufferPointer(start: entryName, count: strlen(entryName)).map { $0 }
            guard String(validating: bytes, as: UTF8.self) == nil, String(decoding: bytes, as: UTF8.self) == name
            else { continue }
            found.append((Array(directory.utf8) + [UInt8(ascii: "/")] + bytes + [0]).map { CChar(bitPattern: $0) })
        }
        return found.isEmpty ? [plain] : found
    }

    /// Processes a claim file under its lock; safe to repeat after a crash at any point.
    /// A claim made just now (`isNew`) has a name never used before, so no run of it can exist yet.
    /// A `keepable` claim came in whole (renamed into `incoming/`), so it may become a run's file.
    private func process(claim path: String, now: Date, isNew: Bool, keepable: Bool) async throws -> [RunID] {
        guard claimsInProgress.withLock({ $0.insert(path).inserted }) else { return [] }
        defer { _ = claimsInProgress.withLock { $0.remove(path) } }
        let claimName = Disk.name(of: path)
        let original = ClaimName.original(of: claimName)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT:
                return []
            case ELOOP:
                try await reject(
                    path, original,
                    reason: "a symbolic link: move the file itself into incoming/, not a link to it", now: now)
                return []
            case ENXIO, ENODEV, EACCES, EPERM:
                // A socket or a device, or a file the spool's user may not read: never readable as it is.
                let kind = Self.kind(of: path)
                try await reject(
                    path, original, reason: "\(kind) that cannot be opened: \(String(cString: strerror(code)))",
                    now: now)
                return []
            default:
                throw SpoolError.system("open", path: path, errno: code)
            }
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, Disk.exists(path) else { return [] }
        let claimedAt = ClaimName.date(of: claimName) ?? now

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SpoolError.system("fstat", path: path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            try await reject(path, original, reason: "\(Self.kind(of: info.st_mode)), not a regular file", now: now)
            return []
        }
        guard Int(info.st_size) <= EventParser.maxFileSize else {
            try await reject(
                path, original,
                reason: "the file is \(info.st_size) bytes, over the limit of \(EventParser.maxFileSize) (4 MiB); "
                    + "split the events into several files",
                now: now)
            return []
        }
        let events: [Event]
        do {
            events = try EventParser.parse(Disk.read(fd, path: path, info: info, limit: EventParser.maxFileSize))
        } catch let invalid as EventParser.Invalid {
            try await reject(path, original, reason: invalid.reason, problems: invalid.problems, now: now)
            return []
        } catch let error as SpoolError where error.code == .invalidInput {
            try await reject(path, original, reason: error.message, now: now)
            return []
        }
        let unrouted = events.enumerated().filter {
            $0.element.name != RunCancelled.eventName && registry.matching($0.element).isEmpty
        }
        guard unrouted.isEmpty else {
            let problems = unrouted.map {
                "\(events.count > 1 ? "[\($0.offset)] " : "")no function handles \"\($0.element.name)\""
            }
            try await reject(
                path, original, reason: "no function is registered for the event name", problems: problems, now: now)
            return []
        }

        var created: [RunID] = []
        var seenIDs: Set<String> = []
        for (index, var event) in events.enumerated() {
            let explicitID = event.id
            let eventID = explicitID ?? "evt-" + String(StableHash.fnv1a64(claimName + "#\(index)"), radix: 36)
            guard seenIDs.insert(eventID).inserted else {
                logger.info(
                    "event [\(index)] of \(original) repeats id \(eventID) of an earlier event in the file; ignored")
                continue
            }
            event.id = eventID
            event.ts = event.ts ?? Int64(claimedAt.timeIntervalSince1970 * 1000)

            let runs = registry.matching(event).map { function in
                (function, RunID(date: claimedAt, function: function.id, seed: "\(claimName)#\(index)#\(function.id)"))
            }
            let ticket = try builder.ticket()
            var staged: [RunBuilder.StagedRun] = []
            for (function, id) in runs where try isNew || needsStaging(id, now: now) {
                staged.append(
                    try builder.stage(id: id, function: function.id, event: event, eventID: eventID, now: now))
            }
            if explicitID != nil {
                guard try await markers.claim(eventID, claim: claimName, runs: runs.map(\.1), now: now) else {
                    for run in staged { try Disk.removeTree(run.directory) }
                    let first = markers.marker(for: eventID)
                    let runs = first.map { $0.runs.joined(separator: ", ") } ?? "?"
                    logger.info(
                        "event \(eventID) from \(original) was ignored: an event with that id started run(s) \(runs) at \(first?.at ?? "?"), and ids are unique for \(Int(dedupeWindow / 3600)) h; send it with a new id, or `spool replay` that run"
                    )
                    continue
                }
            }
            let admissions = await handOff(staged, event: event)
            do {
                try await builder.publish(staged, since: ticket) { admissions[$0]?.decide(admitted: true) }
            } catch {
                for admission in admissions.values { admission.decide(admitted: false) }
                throw error
            }
            created += staged.map(\.id)
        }
        // Only a file nothing outside the spool can write to any more is kept: not one with other names
        // (a hard link), nor someone else's, nor one maybe still being written in place; kept, it is
        // made the spool's alone (0600).
        let kept = keepable && info.st_nlink == 1 && info.st_uid == Self.effectiveUser && fchmod(fd, 0o600) == 0
        try dispose(claim: path, keptBy: kept ? created.first : nil)
        return created
    }

    /// Gives each staged run to `startEarly` with its lock; returns the admissions to decide.
    /// The event in memory is the one event.json holds: an event survives its JSON round trip.
    private func handOff(_ staged: [RunBuilder.StagedRun], event: Event) async -> [RunID: Admission] {
        guard let startEarly else { return [:] }
        var admissions: [RunID: Admission] = [:]
        for run in staged {
            guard let lock = try? RunLock.tryAcquire(runDirectory: run.directory) else { continue }
            let admission = Admission()
            if await startEarly(AdmittingRun(record: run.record, event: event, lock: lock, admission: admission)) {
                admissions[run.id] = admission
            }
        }
        return admissions
    }

    /// Whether a run of this claim must be (re)built: it does not exist yet, or it is in `runs/`
    /// with torn files while its claim is still here (the claim goes only once the run is on disk).
    /// A torn run is moved to `rejected/` with the reason; a run a process holds, or one that moved
    /// on meanwhile, is left alone.
    private func needsStaging(_ id: RunID, now: Date) throws -> Bool {
        guard let location = try RunLocator(layout: layout).find(id) else { return true }
        guard location.folder == "runs", let lock = try RunLock.tryAcquire(runDirectory: location.directory) else {
            return false
        }
        defer { withExtendedLifetime(lock) {} }
        guard !builder.isIntact(id) else { return false }
        let aside = try rejection.reject(
            location.directory, originalName: id.rawValue, from: "runs",
            reason: "the run's event.json, run.json or steps/ was missing or unreadable while its claim was still in "
                + "tmp/; the run was built again from the claim",
            hint: "nothing to do: this is what was left of the run, kept for inspection", now: now)
        logger.warning("run \(id) was torn; it is kept as \(aside) and built again from its event")
        return true
    }

    /// Makes a finished claim the spare of run.json in the first run it started, where the run's
    /// first new record is written over it (`DurableWriter.replace`); removes it when there is no
    /// such run (it started none, or it is not to be kept), or when that run has a spare already or
    /// has left `runs/`. Reusing the file spares creating one inode per
    /// run and freeing another, which slows every later file creation on file systems that skip
    /// recently freed inodes.
    private func dispose(claim path: String, keptBy run: RunID?) throws {
        if let run {
            let spare = DurableWriter.spare(of: layout.liveRun(run) + "/" + RunFiles.record)
            if (try? Disk.renameNoReplace(path, spare)) != nil { return }
        }
        try Disk.removeFile(path)
    }

    /// Runs on a writer thread, past the gate the caller holds already.
    private func reject(_ claim: String, _ original: String, reason: String, problems: [String] = [], now: Date)
        async throws
    {
        let target = try await writer.perform(gated: false) {
            try rejection.reject(claim, originalName: original, reason: reason, problems: problems, now: now)
        }
        let detail = problems.isEmpty ? "" : " (" + problems.joined(separator: "; ") + ")"
        logger.warning("rejected incoming/\(original): \(reason)\(detail) -> \(target)")
    }

    private static func kind(of path: String) -> String {
        var info = stat()
        return lstat(path, &info) == 0 ? kind(of: info.st_mode) : "a file"
    }

    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFLNK: "a symbolic link"
        default: "a file"
        }
    }
}

/// Names of claim files: `.claim-<compact time>-<unique>~<original name>`.
enum ClaimName {
    static let prefix = ".claim-"

    /// The most bytes of the original name kept: a claim's name must fit in NAME_MAX (255 bytes).
    static let maxOriginalBytes = 180

    static func make(original: String, at date: Date) -> String {
        prefix + UTCTime.compact(date) + "-" + Disk.uniqueSuffix() + "~" + shortened(original)
    }

    /// The name as it is, or, if too long, a prefix of whole characters and a hash of the whole.
    static func shortened(_ name: String) -> String {
        guard name.utf8.count > maxOriginalBytes else { return name }
        var prefix = ""
        for character in name {
            guard prefix.utf8.count + character.utf8.count <= maxOriginalBytes - 20 else { break }
            prefix.append(character)
        }
        return prefix + "~h" + String(StableHash.fnv1a64(name), radix: 16)
    }

    static func original(of claim: String) -> String {
        let name = Disk.name(of: claim)
        guard let tilde = name.firstIndex(of: "~") else { return name }
        return String(name[name.index(after: tilde)...])
    }

    static func date(of claim: String) -> Date? {
        let name = Disk.name(of: claim)
        guard name.hasPrefix(prefix) else { return nil }
        let compact = name.dropFirst(prefix.count).prefix(20)
        return UTCTime.parseCompact(String(compact))
    }
}

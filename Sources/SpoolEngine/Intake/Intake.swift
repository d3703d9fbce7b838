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

    private var builder: RunBuilder { RunBuilder(layout: layout) }
    private var rejection: Rejection { Rejection(layout: layout) }
    private var markers: DedupeMarkers { DedupeMarkers(layout: layout, window: dedupeWindow) }

    /// Claims and processes `incoming/<name>`; returns the runs it created.
    /// - Parameter settled: false when the name came from a scan rather than a close/rename
    ///   notification, so a file still being written in place gets time to finish.
    func accept(_ name: String, settled: Bool = true) async throws -> [RunID] {
        guard !name.hasPrefix(".") else { return [] }
        let now = clock.now()
        return try await writer.perform { try acceptNow(name, settled: settled, now: now) }
    }

    /// Finishes claims left in `tmp/` by a process that died mid-claim.
    func recoverClaims() async throws -> [RunID] {
        let now = clock.now()
        return try await writer.perform {
            var created: [RunID] = []
            for name in try Disk.list(layout.tmp) where name.hasPrefix(ClaimName.prefix) {
                created += try process(claim: layout.tmp + "/" + name, now: now)
            }
            return created
        }
    }

    private func acceptNow(_ name: String, settled: Bool, now: Date) throws -> [RunID] {
        let source = layout.incoming + "/" + name
        if !settled, let modified = Disk.modificationDate(source), now.timeIntervalSince(modified) < 2,
            (try? EventParser.parse(Disk.read(source, limit: EventParser.maxFileSize))) == nil
        {
            return []
        }
        let claim = layout.tmp + "/" + ClaimName.make(original: name, at: now)
        guard Glibc.rename(source, claim) == 0 else {
            if errno == ENOENT { return [] }
            throw SpoolError.system("rename", path: "\(source) -> \(claim)")
        }
        return try process(claim: claim, now: now)
    }

    /// Processes a claim file under its lock; safe to repeat after a crash at any point.
    private func process(claim path: String, now: Date) throws -> [RunID] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return [] }
            if errno == ELOOP {
                try rejection.reject(
                    path, originalName: ClaimName.original(of: path), reason: "a symbolic link", now: now)
                return []
            }
            throw SpoolError.system("open", path: path)
        }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, Disk.exists(path) else { return [] }
        let claimName = Disk.name(of: path)
        let original = ClaimName.original(of: claimName)
        let claimedAt = ClaimName.date(of: claimName) ?? now

        let events: [Event]
        do {
            events = try EventParser.parse(Disk.read(path, limit: EventParser.maxFileSize))
        } catch let invalid as EventParser.Invalid {
            try reject(path, original, reason: invalid.reason, problems: invalid.problems, now: now)
            return []
        } catch let error as SpoolError where error.code == .invalidInput {
            try reject(path, original, reason: error.message, now: now)
            return []
        }
        let unrouted = events.enumerated().filter { registry.matching($0.element).isEmpty }
        guard unrouted.isEmpty else {
            let problems = unrouted.map {
                "\(events.count > 1 ? "[\($0.offset)] " : "")no function handles \"\($0.element.name)\""
            }
            try reject(
                path, original, reason: "no function is registered for the event name", problems: problems, now: now)
            return []
        }

        var created: [RunID] = []
        var seenIDs: Set<String> = []
        for (index, var event) in events.enumerated() {
            let explicitID = event.id
            let eventID = explicitID ?? "evt-" + String(StableHash.fnv1a64(claimName + "#\(index)"), radix: 36)
            guard seenIDs.insert(eventID).inserted else { continue }
            event.id = eventID
            event.ts = event.ts ?? Int64(claimedAt.timeIntervalSince1970 * 1000)

            let runs = registry.matching(event).map { function in
                (function, RunID(date: claimedAt, function: function.id, seed: "\(claimName)#\(index)#\(function.id)"))
            }
            var staged: [(staging: String, id: RunID)] = []
            for (function, id) in runs where try RunLocator(layout: layout).find(id) == nil {
                let staging = try builder.stage(id: id, function: function.id, event: event, eventID: eventID, now: now)
                staged.append((staging, id))
            }
            if explicitID != nil {
                guard try markers.claim(eventID, claim: claimName, runs: runs.map(\.1), now: now) else {
                    for (staging, _) in staged { try Disk.removeTree(staging) }
                    logger.info("event \(eventID) from \(original) is a duplicate within the dedupe window; ignored")
                    continue
                }
            }
            try builder.publish(staged)
            created += staged.map(\.id)
        }
        try Disk.removeFile(path)
        return created
    }

    private func reject(_ claim: String, _ original: String, reason: String, problems: [String] = [], now: Date) throws
    {
        let target = try rejection.reject(claim, originalName: original, reason: reason, problems: problems, now: now)
        logger.warning("rejected incoming/\(original): \(reason) \(problems.joined(separator: "; ")) -> \(target)")
    }
}

/// Names of claim files: `.claim-<compact time>-<unique>~<original name>`.
enum ClaimName {
    static let prefix = ".claim-"

    static func make(original: String, at date: Date) -> String {
        prefix + UTCTime.compact(date) + "-" + Disk.uniqueSuffix() + "~" + original
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

import Foundation

/// Event-id markers in `ids/`: the first event with an id wins for `window`; later ones are duplicates.
struct DedupeMarkers: Sendable {
    struct Marker: Codable {
        var eventId: String
        var claim: String
        var runs: [String]
        var at: String
    }

    let layout: SpoolLayout
    let window: TimeInterval

    func path(for eventID: String) -> String { layout.ids + "/" + SafeName.encode(eventID) }

    /// The marker recorded for `eventID`, if there is one and it parses.
    func marker(for eventID: String) -> Marker? { marker(at: path(for: eventID)) }

    private func marker(at path: String) -> Marker? {
        try? JSONDecoder().decode(Marker.self, from: Disk.read(path))
    }

    /// Records `eventID` for `claim`; false when another claim recorded it within the window.
    /// Creation is atomic across processes: the marker is renamed into place only if absent.
    func claim(_ eventID: String, claim: String, runs: [RunID], now: Date) async throws -> Bool {
        let target = path(for: eventID)
        let marker = Marker(eventId: eventID, claim: claim, runs: runs.map(\.rawValue), at: UTCTime.iso8601(now))
        let temp = layout.ids + "/.marker.tmp-" + Disk.uniqueSuffix()
        let flush = try GroupFlush.of(layout.ids)
        let ticket = flush.ticket()
        try Disk.createFile(temp, contents: try SpoolJSON.lineEncoder.encode(marker))
        defer { try? Disk.removeFile(temp) }
        try await flush.flushed(since: ticket, for: temp)
        for _ in 0..<2 {
            do {
                try Disk.renameNoReplace(temp, target)
                try await flush.flushed(since: ticket, for: target)
                return true
            } catch let error as SpoolError where error.errno == EEXIST {
                switch judge(target, claim: claim, now: now) {
                case .ours: return true
                case .live: return false
                case .expired: if try await !removeExpired(target, now: now) { return false }
                }
            }
        }
        return false
    }

    enum Standing { case ours, live, expired }

    /// What the marker at `path` means for `claim`; a marker that cannot be read counts by its file's age.
    func judge(_ path: String, claim: String, now: Date) -> Standing {
        let existing = marker(at: path)
        if let existing, existing.claim == claim { return .ours }
        let recordedAt = existing.flatMap { UTCTime.parseISO8601($0.at) } ?? Disk.modificationDate(path)
        if let recordedAt, now.timeIntervalSince(recordedAt) < window { return .live }
        return .expired
    }

    /// Removes the marker at `target` if it is still expired; false if another process has
    /// replaced it with a live one. Every removal holds the removal lock, so the marker judged is
    /// the one removed: otherwise a marker only appears where there was none. The wait for the
    /// lock holds a writer thread, not one of the cooperative pool.
    func removeExpired(_ target: String, now: Date) async throws -> Bool {
        try await BlockingThreads.shared.run { [self] in
            try holdingRemovalLock {
                guard judge(target, claim: "", now: now) == .expired else { return false }
                try Disk.removeFile(target)
                return true
            }
        }
    }

    /// Removes markers older than the window; returns how many. Called from a writer thread.
    /// Each is judged again under the removal lock, which is held for one marker at a time.
    func prune(now: Date) throws -> Int {
        var removed = 0
        for path in try Disk.listVisible(layout.ids).map({ layout.ids + "/" + $0 }) where isOld(path, now: now) {
            let gone = try holdingRemovalLock {
                guard isOld(path, now: now) else { return false }
                try Disk.removeFile(path)
                return true
            }
            if gone { removed += 1 }
        }
        return removed
    }

    private func isOld(_ path: String, now: Date) -> Bool {
        guard let modified = Disk.modificationDate(path) else { return false }
        return now.timeIntervalSince(modified) >= window
    }

    private func holdingRemovalLock<T>(_ body: () throws -> T) throws -> T {
        try FileLock.holding(layout.ids + "/.removal.lock", body)
    }
}

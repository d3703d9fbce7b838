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
                let existing = try? JSONDecoder().decode(Marker.self, from: Disk.read(target))
                if let existing, existing.claim == claim { return true }
                let recordedAt = existing.flatMap { UTCTime.parseISO8601($0.at) } ?? Disk.modificationDate(target)
                if let recordedAt, now.timeIntervalSince(recordedAt) < window { return false }
                try Disk.removeFile(target)
            }
        }
        return false
    }

    /// Removes markers older than the window; returns how many.
    func prune(now: Date) throws -> Int {
        var removed = 0
        for name in try Disk.listVisible(layout.ids) {
            let path = layout.ids + "/" + name
            if let modified = Disk.modificationDate(path), now.timeIntervalSince(modified) >= window {
                try Disk.removeFile(path)
                removed += 1
            }
        }
        return removed
    }
}

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Moves input that cannot be accepted to `rejected/<name>` beside `<name>.reason.json`; never deletes it.
struct Rejection: Sendable {
    struct Reason: Codable {
        var file: String
        var reason: String
        var problems: [String]?
        var rejectedAt: String
        var hint: String
    }

    let layout: SpoolLayout

    /// Runs on a writer thread. Returns the rejected file's path.
    /// - Parameters:
    ///   - folder: where the input was found, for the reason's `file` (`incoming`, or `runs`).
    ///   - hint: what to do about it, when not "fix the file and move it back into incoming/".
    @discardableResult
    func reject(
        _ source: String, originalName: String, from folder: String = "incoming", reason: String,
        problems: [String] = [], hint: String? = nil, now: Date
    ) throws -> String {
        // Encoded names are at most 180 bytes, so `<time>-<unique>-<name>.reason.json` fits in NAME_MAX.
        var name =
            SafeName.isSafe(originalName) && originalName.utf8.count <= 180
            ? originalName : SafeName.encode(originalName)
        if Disk.exists(layout.rejected + "/" + name) || Disk.exists(layout.rejected + "/" + name + ".reason.json") {
            name = UTCTime.compact(now) + "-" + Disk.uniqueSuffix() + "-" + name
        }
        let explanation = Reason(
            file: folder + "/" + originalName, reason: reason, problems: problems.isEmpty ? nil : problems,
            rejectedAt: UTCTime.iso8601(now),
            hint: hint ?? "fix the file and move it back into incoming/ (write it in tmp/ first, then rename)")
        try DurableWriter.publishNow(
            try SpoolJSON.encoder.encode(explanation), at: layout.rejected + "/" + name + ".reason.json")
        let target = layout.rejected + "/" + name
        try Disk.renameNoReplace(source, target)
        try GroupFlush.of(layout.rejected).wait(for: target)
        return target
    }
}

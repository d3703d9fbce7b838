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
        let preferred =
            SafeName.isSafe(originalName) && originalName.utf8.count <= 180
            ? originalName : SafeName.encode(originalName)
        let unique = UTCTime.compact(now) + "-" + Disk.uniqueSuffix() + "-" + preferred
        let explanation = try SpoolJSON.encoder.encode(
            Reason(
                file: folder + "/" + originalName, reason: reason, problems: problems.isEmpty ? nil : problems,
                rejectedAt: UTCTime.iso8601(now),
                hint: hint ?? "fix the file and move it back into incoming/ (write it in tmp/ first, then rename)"))
        // The reason takes the name first, replacing nothing; the input follows it the same way. Two
        // rejections of one name at once each keep their own reason: the later takes a unique name.
        var name = preferred
        let reserved =
            try !Disk.exists(path(of: name))
            && DurableWriter.publishNow(explanation, at: reasonPath(of: name), replacing: false)
        if !reserved {
            name = unique
            try DurableWriter.publishNow(explanation, at: reasonPath(of: name))
        }
        do {
            try Disk.renameNoReplace(source, path(of: name))
        } catch let error as SpoolError where error.errno == EEXIST && name != unique {
            // A file without a reason of ours took the name meanwhile: the reason moves to the unique name.
            try Disk.renameNoReplace(reasonPath(of: name), reasonPath(of: unique))
            name = unique
            try Disk.renameNoReplace(source, path(of: name))
        }
        try GroupFlush.of(layout.rejected).wait(for: path(of: name))
        return path(of: name)
    }

    private func path(of name: String) -> String { layout.rejected + "/" + name }
    private func reasonPath(of name: String) -> String { path(of: name) + ".reason.json" }
}

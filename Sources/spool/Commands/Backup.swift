import ArgumentParser
import Foundation
import SpoolEngine

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a live spool consistently into DEST: it pauses only while a snapshot is taken.",
        discussion: "To restore, copy DEST to an empty directory (or use it) and run `spool serve --spool DIR` there.")

    @OptionGroup var options: SpoolOptions
    @Argument(help: "A new or empty directory outside the spool.") var destination: String
    @Option(help: "Seconds to wait for in-flight writes before giving up.") var timeout: Double = 60

    func run() async throws {
        let layout = try options.existingLayout()
        do {
            let report = try SpoolBackup(layout: layout).backup(
                to: destination, freezeTimeout: .milliseconds(Int(timeout * 1000)))
            print(
                String(
                    format: "backed up %d files (%.1f MB) to %@; the spool was paused for %.1f ms", report.files,
                    Double(report.bytes) / 1_048_576, destination, report.frozenFor.seconds * 1000))
        } catch let error as SpoolError where error.code == .conflict || error.code == .invalidInput {
            throw ValidationError(error.message)
        }
    }
}

struct Freeze: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze",
        abstract: "Pause every change to the spool (in every process) for your own copy; `spool thaw` resumes.",
        discussion: "Returns once no write is in flight. Servers keep running and wait.")

    @OptionGroup var options: SpoolOptions
    @Option(help: "Seconds to wait for in-flight writes before giving up.") var timeout: Double = 60

    func run() async throws {
        let layout = try options.existingLayout()
        try FreezeGate(layout: layout).freeze(timeout: .milliseconds(Int(timeout * 1000)))
        print("\(layout.root) is frozen; copy it now (e.g. rsync -a), then run `spool thaw --spool \(layout.root)`")
    }
}

struct Thaw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thaw", abstract: "Resume a spool paused by `spool freeze`.")

    @OptionGroup var options: SpoolOptions

    func run() async throws {
        let layout = try options.existingLayout()
        let gate = FreezeGate(layout: layout)
        guard gate.isFrozen else {
            print("\(layout.root) was not frozen")
            return
        }
        try gate.thaw()
        print("\(layout.root) thawed")
    }
}

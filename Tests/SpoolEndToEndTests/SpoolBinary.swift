import Foundation
import Testing

@testable import SpoolEngine

/// The built `spool` binary, run as a user would: `SPOOL_BIN`, else beside the test bundle.
struct SpoolBinary {
    let path: String
    let spool: String

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    init(spool: String) throws {
        let candidates = [
            ProcessInfo.processInfo.environment["SPOOL_BIN"],
            Bundle.main.bundleURL.appendingPathComponent("spool").path(percentEncoded: false),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("spool").path(
                percentEncoded: false),
        ].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw SpoolError(.notFound, "no spool binary at \(candidates); run `swift build` or set SPOOL_BIN")
        }
        path = found
        self.spool = spool
    }

    /// Runs a command to completion and returns what it printed.
    @discardableResult
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Output {
        let needsSpool =
            !["cron", "help", "--help"].contains(arguments.first) && arguments.prefix(2) != ["demo", "csv"]
        let process = try launch(arguments + (needsSpool ? ["--spool", spool] : []), environment: environment)
        let stdout = (process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
        let stderr = (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Starts `spool serve` on the spool; its log goes to `<spool>-<name>.log` beside the spool.
    func serve(_ extra: [String] = [], environment: [String: String] = [:], log name: String) throws -> Process {
        try start(["serve", "--spool", spool, "--rescan-seconds", "0.5"] + extra, environment: environment, log: name)
    }

    /// Starts the binary without waiting for it; its output goes to `<spool>-<name>.log` beside the spool.
    func start(_ arguments: [String], environment: [String: String] = [:], log name: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let logPath = spool + "-" + name + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        Servers.started(process, on: spool)
        return process
    }

    private func launch(_ arguments: [String], environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }
}

/// A temp directory for one end-to-end test, holding the spool and the servers' logs.
final class Workspace: Sendable {
    let directory: String
    var spool: String { directory + "/spool" }
    var layout: SpoolLayout { SpoolLayout(root: spool) }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-e2e-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// A test that fails midway leaves no server behind: what it started on this spool is killed.
    deinit {
        Servers.killAll(on: spool)
        try? FileManager.default.removeItem(atPath: directory)
    }

    func runs(in folders: Set<String>) throws -> [RunLocation] {
        try RunLocator(layout: layout).all(in: folders)
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: spool + "-" + name + ".log", encoding: .utf8)) ?? ""
    }
}

/// The processes `SpoolBinary.start` began on each spool (servers, and commands that wait), killed with their workspace.
private enum Servers {
    /// Lock-guarded: tests run in parallel.
    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var bySpool: [String: [Process]] = [:]
    }
    private static let registry = Registry()

    static func started(_ process: Process, on spool: String) {
        registry.lock.withLock { registry.bySpool[spool, default: []].append(process) }
    }

    static func killAll(on spool: String) {
        let processes = registry.lock.withLock { registry.bySpool.removeValue(forKey: spool) ?? [] }
        for process in processes where process.isRunning { process.stop(SIGKILL) }
    }
}

extension Process {
    /// Sends `signal` and waits for the process to exit.
    func stop(_ signal: Int32) {
        kill(processIdentifier, signal)
        waitUntilExit()
    }
}

struct DemoIDs: Codable {
    var workspaceId: String
    var userId: String
}

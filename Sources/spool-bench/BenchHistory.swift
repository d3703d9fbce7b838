import ArgumentParser
import Foundation
import Logging
import SpoolEngine

/// Fills a spool with finished runs: one run of bench-tiny through the engine, then copies of it.
struct BenchHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Add finished bench-tiny runs to done/ (copies of one real run, each with its own id).")

    @Option(help: "The spool directory.")
    var spool: String

    @Option(help: "Finished runs to add.")
    var runs: Int = 100_000

    func run() async throws {
        let layout = SpoolLayout(root: spool)
        try layout.create()
        let template = try await finishedRun(layout)
        let files = try Self.files(in: template.directory)
        let day = Disk.parent(of: template.directory)
        let start = Date()
        for index in 0..<runs {
            let id = RunID(date: start.addingTimeInterval(Double(index) / 1000), function: "bench-tiny")
            let directory = day + "/" + id.rawValue
            for (relative, data) in files {
                let path = directory + "/" + relative
                try Disk.makeDirectories(Disk.parent(of: path))
                let text = String(decoding: data, as: UTF8.self)
                    .replacingOccurrences(of: template.id.rawValue, with: id.rawValue)
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            }
        }
        print("added \(runs) finished runs to \(day)")
    }

    /// Sends one event and serves until its run is in done/.
    private func finishedRun(_ layout: SpoolLayout) async throws -> (id: RunID, directory: String) {
        let marks = try TimingMarks(path: "/dev/null")
        let server = SpoolServer(
            layout: layout, functions: [TinyJob.function(marks: marks)], logger: Logger(label: "spool-bench"))
        let serving = Task { try await server.run() }
        try await EventProducer(layout: layout).send([Event(name: "bench/tiny", data: ["event": 0])])
        let admin = SpoolAdmin(layout: layout)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let run = try admin.runs(status: .completed).first,
                let location = try admin.location(of: RunID(validating: run.id))
            {
                server.stop()
                try await serving.value
                return (location.id, location.directory)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        server.stop()
        throw BenchError("the template run did not complete within 60 s; see \(layout.runs)")
    }

    /// Every regular file under `directory`, by path relative to it.
    private static func files(in directory: String, prefix: String = "") throws -> [(String, Data)] {
        var found: [(String, Data)] = []
        for name in try Disk.list(directory) where !name.hasPrefix(".") {
            let path = directory + "/" + name
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            if Disk.isDirectory(path) {
                found += try files(in: path, prefix: relative)
            } else {
                found.append((relative, try Disk.read(path)))
            }
        }
        return found
    }
}

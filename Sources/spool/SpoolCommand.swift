import ArgumentParser
import Foundation
import SpoolEngine

@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "A durable background-job processor whose queue and state store is the file system.",
        subcommands: [
            Serve.self, Send.self, Runs.self, Show.self, Retry.self, Replay.self, Cancel.self, Cron.self, Import.self,
            Export.self, ImportsList.self, ExportsList.self, Backup.self, Freeze.self, Thaw.self, Demo.self,
        ])

    /// Every file a spool command creates (runs, the database, blobs, mail) is private to its owner.
    static func main() async {
        umask(0o077)
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "help", let name = arguments.dropFirst().first,
            !configuration.subcommands.contains(where: { $0._commandName == name })
        {
            printToStandardError("Error: no command \"\(name)\"; `spool --help` lists them")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let error where error is CleanExit || error is ExitCode || exitCode(for: error) == .success {
            // Help asked of the root or of a command group (which the library throws from `run`), or an
            // exit code already chosen: as the library does them.
            exit(withError: error)
        } catch {
            // Found while running, not a misuse of the command line: the message alone, no usage.
            let message = message(for: error)
            if !message.isEmpty { printToStandardError("Error: \(message)") }
            Foundation.exit(exitCode(for: error).rawValue)
        }
    }
}

/// `--spool DIR`, shared by every command.
struct SpoolOptions: ParsableArguments {
    @Option(name: .long, help: "The spool directory (default: $SPOOL_DIR, else ./spool).")
    var spool: String?

    var layout: SpoolLayout { SpoolLayout(root: chosen.root) }

    /// The spool directory and what named it: `--spool`, else `$SPOOL_DIR` (each ignored when empty), else ./spool.
    private var chosen: (root: String, namedBy: String) {
        if let spool, !spool.isEmpty { return (spool, "--spool") }
        if let variable = ProcessInfo.processInfo.environment["SPOOL_DIR"], !variable.isEmpty {
            return (variable, "$SPOOL_DIR")
        }
        return ("./spool", "the default")
    }

    /// The layout of an existing spool; a clear error otherwise.
    func existingLayout() throws -> SpoolLayout {
        let layout = self.layout
        guard layout.exists else {
            throw ValidationError(
                "no spool at \(layout.root) (from \(chosen.namedBy); it has no runs/ folder): check the path, "
                    + "or start `spool serve --spool \(layout.root)` to make one there")
        }
        return layout
    }

    /// `existingLayout()` for a command that changes the spool: says so if it must wait for a thaw.
    func changeableLayout() throws -> SpoolLayout {
        let layout = try existingLayout()
        sayIfFrozen(layout)
        return layout
    }
}

/// One line on stderr: warnings and progress, kept out of the output a script reads.
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Says on stderr why a command that changes the spool seems to hang: it waits for `spool thaw`.
func sayIfFrozen(_ layout: SpoolLayout) {
    guard FreezeGate(layout: layout).isFrozen else { return }
    printToStandardError("\(layout.root) is frozen (`spool freeze`); waiting until `spool thaw --spool \(layout.root)`")
}

/// A run id argument, validated.
func parseRunID(_ text: String) throws -> RunID {
    do {
        return try RunID(validating: text)
    } catch {
        throw ValidationError("\"\(text)\" is not a run id (see `spool runs`)")
    }
}

/// Prints a value as pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try SpoolJSON.encoder.encode(value), as: UTF8.self))
}

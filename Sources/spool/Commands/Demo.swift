import ArgumentParser
import Folksbase
import Foundation
import SpoolEngine

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Demo data.", subcommands: [Seed.self, CSV.self])

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed",
            abstract: "Create the demo workspace and user if absent; print their ids as JSON.")

        @OptionGroup var options: SpoolOptions
        @OptionGroup var servicesOptions: ServicesOptions

        func run() async throws {
            let layout = options.layout
            try layout.create()
            let services = try servicesOptions.services(layout)
            try printJSON(try await services.store.seedDemo())
        }
    }

    struct CSV: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "csv",
            abstract: "Write a deterministic contacts CSV with realistic nasty cases (to stdout, or --out).")

        @Option(help: "Data rows.") var rows: Int
        @Option(help: "Seed: the same seed gives the same file.") var seed: UInt64 = 42
        @Option(help: "Write to this file instead of stdout.") var out: String?

        func run() async throws {
            guard rows >= 0 else { throw ValidationError("--rows cannot be negative") }
            let generator = DemoContactsCSV(rows: rows, seed: seed)
            if let out {
                try generator.write(to: out)
                let expected = generator.expectation()
                printToStandardError(
                    "wrote \(rows) rows to \(out): \(expected.validUniqueEmails) valid unique emails, "
                        + "\(expected.missingEmail) missing, \(expected.invalidEmail) invalid, "
                        + "\(expected.duplicates) duplicates")
            } else {
                try generator.write(to: FileHandle.standardOutput)
            }
        }
    }
}

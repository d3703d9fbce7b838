import ArgumentParser
import Folksbase
import SpoolEngine

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Demo data.", subcommands: [Seed.self])

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the demo workspace and user if absent; print their ids as JSON.")

        @OptionGroup var options: SpoolOptions

        func run() async throws {
            let layout = options.layout
            try layout.create()
            let services = try FolksbaseServices.embedded(spool: layout, writer: DurableWriter())
            try printJSON(try await services.store.seedDemo())
        }
    }
}

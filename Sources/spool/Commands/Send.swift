import ArgumentParser
import Folksbase
import Foundation
import SpoolEngine

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send an event: written to tmp/, renamed into incoming/; prints the event id.")

    @OptionGroup var options: SpoolOptions

    @Argument(help: "The event name, e.g. user/signed.up.")
    var name: String

    @Option(help: "The event data: a JSON object, or @FILE to read it from a file.")
    var data: String = "{}"

    @Option(help: "An idempotency key: a second event with this id within 24 hours is ignored.")
    var id: String?

    func run() async throws {
        let event = Event(
            name: name, data: try parseData(), id: id ?? "evt_" + UUID().uuidString.lowercased(),
            ts: Int64(Date().timeIntervalSince1970 * 1000))
        let layout = options.layout
        // Asked before sending: once sent, the marker may be this event's own.
        let acceptedBefore = id.flatMap { SpoolAdmin(layout: layout).eventAcceptedAt($0) }
        do {
            let isNew = !layout.exists
            try layout.create()
            if isNew {
                printToStandardError(
                    "\(layout.root) had no spool: made one; `spool serve --spool \(layout.root)` runs its events")
            }
            sayIfFrozen(layout)
            try await EventProducer(layout: layout).send([event])
        } catch let error as SpoolError where error.code == .invalidInput {
            throw ValidationError(error.message)
        }
        if !FolksbaseFunctions.eventNames.contains(name) {
            let known = FolksbaseFunctions.eventNames.sorted().joined(separator: ", ")
            printToStandardError(
                "no function handles \"\(name)\", so `spool serve` will move it to rejected/ (events: \(known))")
        }
        if let id, let acceptedAt = acceptedBefore {
            printToStandardError(
                "an event with id \"\(id)\" was accepted at \(acceptedAt): `spool serve` ignores this one "
                    + "while that id is remembered (24 hours)")
        }
        print(event.id!)
    }

    private func parseData() throws -> JSONValue {
        var text = data
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read --data file \(path)")
            }
            text = String(decoding: contents, as: UTF8.self)
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw ValidationError("--data is not valid JSON: \(EventParser.jsonProblem(Data(text.utf8), error))")
        }
        guard case .object = value else {
            throw ValidationError("--data must be a JSON object, e.g. '{\"userId\":\"…\"}'")
        }
        return value
    }
}

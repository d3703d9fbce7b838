import Logging

/// An email no retry can deliver: its message cannot be made (an address or a name mail cannot
/// carry), or the mail server refused its recipient for good.
enum UndeliverableEmail {
    static func covers(_ error: FolksbaseError) -> Bool {
        error.code == .invalidInput || error.code == .recipientRefused
    }

    /// Sends through `send`. An undeliverable email is logged and returns `not sent: <why>` for the
    /// step file, so the job goes on without it; any other failure fails the step as usual.
    static func sendOrSayWhyNot(
        _ what: String, logger: Logger, _ send: () async throws -> String
    ) async throws -> String {
        do {
            return try await send()
        } catch let error as FolksbaseError where covers(error) {
            logger.warning("\(what) not sent: \(error)")
            return "not sent: \(error.message)"
        }
    }
}

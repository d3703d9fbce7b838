import CurlClient
import Foundation

/// The deployed mailer: hands each message to an SMTP server (`SPOOL_SMTP_URL`).
///
/// SMTP cannot deduplicate, so a step retried after the server accepted its message may deliver
/// it twice; the copies share their Message-ID, which mail clients use to show it once.
public struct SMTPMailer: Mailer, CustomStringConvertible {
    public let client: SMTPClient

    public init(client: SMTPClient) { self.client = client }

    /// Throws `.invalidInput` unless `url` is `smtp://host:port` or `smtps://host:port`.
    public init(url: String, username: String? = nil, password: String? = nil) throws {
        self.init(client: try SMTPClient(url: url, username: username, password: password))
    }

    /// The mailer `SPOOL_SMTP_URL` (with `SPOOL_SMTP_USER` and `SPOOL_SMTP_PASSWORD`) describes;
    /// nil when it is unset or empty.
    public static func fromEnvironment(_ environment: [String: String]) throws -> SMTPMailer? {
        guard let url = environment["SPOOL_SMTP_URL"], !url.isEmpty else { return nil }
        return try SMTPMailer(
            url: url, username: environment["SPOOL_SMTP_USER"], password: environment["SPOOL_SMTP_PASSWORD"])
    }

    /// Sends the rendered message from `from.address` to every `to` address.
    ///
    /// Throws `.invalidInput` for a message that cannot be rendered, `.recipientRefused` when the
    /// server refused a recipient for good, and `.mail` wrapping the `TransferError` when it could
    /// not be reached or refused the message otherwise.
    public func send(_ message: EmailMessage) async throws {
        let data = try message.rendered()
        var seen = Set<String>()
        let recipients = message.to.map(\.address).filter { seen.insert($0.lowercased()).inserted }
        do {
            try await client.send(from: message.from.address, to: recipients, message: data)
        } catch let error as TransferError where error.code == .recipientRefused && (error.status ?? 0) >= 500 {
            throw FolksbaseError(
                .recipientRefused,
                "message <\(message.messageID)> to \(recipients.joined(separator: ", ")) cannot be delivered: \(error)",
                cause: error)
        } catch {
            throw FolksbaseError(
                .mail, "could not send message <\(message.messageID)> through \(client): \(error)", cause: error)
        }
    }

    public var description: String { "SMTPMailer(\(client))" }
}

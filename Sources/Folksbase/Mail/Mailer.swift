/// Delivers email: the outbox folder is the embedded default, SMTP the deployed one.
///
/// Steps run at least once, so `send` may see a message again after a retry. Implementations
/// use its Message-ID to deliver it once where they can (the outbox replaces the same file).
public protocol Mailer: Sendable {
    func send(_ message: EmailMessage) async throws
}

import SpoolEngine

/// `send-welcome` on `user/signed.up` {userId, workspaceId}: fetch the user, send the welcome email.
public enum SendWelcome {
    public static let id = "send-welcome"
    public static let event = "user/signed.up"

    struct EventData: Decodable {
        var userId: String
        var workspaceId: String?
    }

    struct Recipient: Codable, Sendable {
        var user: User
        var workspaceName: String?
    }

    public static func function(_ services: FolksbaseServices) -> SpoolFunction {
        SpoolFunction(id: id, trigger: .event(event)) { context in
            let data = try context.event.decodeData(EventData.self)
            let recipient = try await context.step.run("fetch-user") { _ in
                guard let user = try await services.store.user(id: data.userId) else {
                    throw NonRetriableError("no user \(data.userId); nothing to welcome")
                }
                let workspace = try await data.workspaceId.asyncMap { try await services.store.workspace(id: $0) }
                return Recipient(user: user, workspaceName: workspace??.name)
            }
            _ = try await context.step.run("send-welcome-email") { step in
                do {
                    return try await services.notifications.sendWelcome(
                        to: recipient.user, workspaceName: recipient.workspaceName,
                        idempotencyKey: step.idempotencyKey)
                } catch let error as FolksbaseError where UndeliverableEmail.covers(error) {
                    throw NonRetriableError("the welcome email cannot be delivered: \(error.message)")
                }
            }
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

import Foundation

/// The page after the one an export part just read, read while that part is encoded and
/// published and its step is recorded; the next part takes it instead of reading it again.
///
/// Only one page ahead per export, and only for `freshFor`: a part that comes later (a retried
/// step, a run resumed after a stop) reads its page itself, so an export never holds contacts
/// read long before their part. A failed read ahead is dropped; the part then reads the page itself.
actor PageReadAhead {
    struct Key: Hashable {
        let workspaceID: String
        let cursor: ContactCursor
        let limit: Int
    }

    private struct Pending {
        let read: Task<ContactFieldsPage, Error>
        let started: ContinuousClock.Instant
    }

    /// Pages read ahead at once, across exports: an older one is dropped for a newer.
    private let capacity: Int
    private let freshFor: Duration
    private var pending: [Key: Pending] = [:]
    private var order: [Key] = []

    init(capacity: Int = 2, freshFor: Duration = .seconds(10)) {
        self.capacity = capacity
        self.freshFor = freshFor
    }

    /// Starts reading the page at `key` in the background.
    func start(_ key: Key, read: @escaping @Sendable () async throws -> ContactFieldsPage) {
        order.removeAll { $0 == key }
        order.append(key)
        pending[key]?.read.cancel()
        pending[key] = Pending(read: Task { try await read() }, started: .now)
        while order.count > capacity { pending.removeValue(forKey: order.removeFirst())?.read.cancel() }
    }

    /// Returns once every read started so far has ended.
    func settle() async {
        for entry in pending.values { _ = try? await entry.read.value }
    }

    /// The page read ahead at `key`, if one was started there lately and its read succeeded.
    func take(_ key: Key) async -> ContactFieldsPage? {
        guard let found = pending.removeValue(forKey: key) else { return nil }
        order.removeAll { $0 == key }
        guard ContinuousClock.now - found.started < freshFor else { return nil }
        return try? await found.read.value
    }
}

import SpoolEngine

/// Another connection to a database, opened when first used: most commands never need it.
final class SiblingConnection: Sendable {
    private let original: SQLiteConnection
    private let opened = LockedValue<SQLiteConnection?>(nil)

    init(of original: SQLiteConnection) { self.original = original }

    func connection() throws -> SQLiteConnection {
        try opened.withLock { opened in
            if let opened { return opened }
            let sibling = try original.sibling()
            opened = sibling
            return sibling
        }
    }
}

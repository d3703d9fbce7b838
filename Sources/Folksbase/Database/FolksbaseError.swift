/// An error from folksbase's stores and mailers: what failed, and what to do about it.
public struct FolksbaseError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case database
            case busy
            case constraint
            case notFound
            case invalidInput
            case mail
            case recipientRefused
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The database failed (cannot open, disk full, corrupt, bad SQL).
        public static let database = Code(.database)
        /// Another connection held the database lock for longer than the busy timeout; retrying helps.
        public static let busy = Code(.busy)
        /// A row broke a constraint (a duplicate key, a missing reference, a failed CHECK).
        public static let constraint = Code(.constraint)
        /// A record does not exist.
        public static let notFound = Code(.notFound)
        /// An argument (an id, an email address, a header) is not acceptable.
        public static let invalidInput = Code(.invalidInput)
        /// A message could not be delivered to the mailer's destination.
        public static let mail = Code(.mail)
        /// The mail server refused a recipient's address for good (a 5xx reply to RCPT TO): sending
        /// the message again cannot deliver it.
        public static let recipientRefused = Code(.recipientRefused)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// SQLite's extended result code, when SQLite reported the failure.
    public let sqliteCode: Int32?
    /// The lower-level error this one wraps, if any.
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, sqliteCode: Int32? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.sqliteCode = sqliteCode
        self.cause = cause
    }

    public var description: String { message }
}

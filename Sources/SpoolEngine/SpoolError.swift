#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An error from the spool engine: what happened, where, and what to do about it.
public struct SpoolError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case io
            case invalidInput
            case notFound
            case conflict
            case busy
            case invalidCron
            case functionNotRegistered
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A system call failed (write, fsync, rename, …).
        public static let io = Code(.io)
        /// Input (an event, a step name, an argument) is not acceptable.
        public static let invalidInput = Code(.invalidInput)
        /// A run, file or record does not exist.
        public static let notFound = Code(.notFound)
        /// The operation does not apply to the thing's current state.
        public static let conflict = Code(.conflict)
        /// Another process holds the lock.
        public static let busy = Code(.busy)
        /// A cron expression could not be parsed.
        public static let invalidCron = Code(.invalidCron)
        /// A run names a function this process does not know.
        public static let functionNotRegistered = Code(.functionNotRegistered)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// The `errno` of a failed system call, when there is one.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// A failed system call on `path`, with the reason from `errno` and a hint where one helps.
    static func system(_ call: String, path: String, errno code: Int32 = currentErrno()) -> SpoolError {
        let reason = String(cString: strerror(code))
        var message = "\(call) \(path): \(reason)"
        switch code {
        case ENOSPC, EDQUOT: message += " (free space on the spool's file system, then the step retries)"
        case EACCES, EPERM: message += " (check the spool's owner and permissions: run spool as the user that owns it)"
        case EROFS: message += " (the spool's file system is read-only; remount it read-write)"
        case EIO: message += " (the disk reported an I/O error; check the device)"
        default: break
        }
        return SpoolError(.io, message, errno: code)
    }

    public var description: String { message }
}

@inline(__always) func currentErrno() -> Int32 { errno }

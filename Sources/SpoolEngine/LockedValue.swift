import Foundation

/// A value guarded by a lock, for state shared between threads outside any actor.
///
/// `@unchecked Sendable` is sound because every access goes through `withLock`.
public final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

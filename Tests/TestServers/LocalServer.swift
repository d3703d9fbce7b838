import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A server process for tests (an SMTP sink, moto's S3, an HTTP file server) on a free loopback
/// port, started on demand and killed when the value is released, which also removes its log.
public final class LocalServer: @unchecked Sendable {
    // @unchecked: immutable after init; `process` is only terminated in deinit.
    public let port: Int
    public let process: Process
    public let logPath: String

    /// Starts `arguments` (with `{port}` replaced by a free port) and waits until the port accepts.
    public init(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, timeout: Double = 30
    ) throws {
        let port = try Self.freePort()
        self.port = port
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments.map { $0.replacingOccurrences(of: "{port}", with: String(port)) }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(port).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while !Self.accepts(port) {
            guard process.isRunning else {
                throw ServerError("\(arguments.joined(separator: " ")) exited: \(Self.read(logPath))")
            }
            guard Date() < deadline else {
                process.terminate()
                throw ServerError(
                    "\(arguments.joined(separator: " ")) did not listen on \(port): \(Self.read(logPath))")
            }
            usleep(50_000)
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = waitForExit(process)
        }
        unlink(logPath)
    }

    public var log: String { Self.read(logPath) }

    /// Whether the machine has a Python module (a test needs it; `make test` installs it).
    public static func hasPythonModule(_ name: String) -> Bool {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import \(name)"]
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return false }
        return waitForExit(check) == 0
    }

    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw ServerError("no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import Foundation
import SpoolEngine

/// The embedded mailer: each message becomes one RFC 5322 `.eml` file in a folder (`spool/outbox/`).
///
/// The file is named after the Message-ID alone, so sending a message again (a retried step)
/// replaces its file instead of adding a second one. Files are published through the spool's
/// `DurableWriter`: `send` returns once the message is on disk.
public struct OutboxMailer: Mailer {
    public let directory: String
    private let writer: DurableWriter

    public init(directory: String = "spool/outbox", writer: DurableWriter) {
        self.directory = directory
        self.writer = writer
    }

    public func send(_ message: EmailMessage) async throws {
        let data = try message.rendered()
        let path = path(for: message)
        do {
            try await makeDirectory()
            try await writer.publish(data, at: path)
        } catch {
            throw FolksbaseError(
                .mail, "could not write message <\(message.messageID)> to \(path): \(error)", cause: error)
        }
    }

    /// Where `message` is (or will be) written.
    public func path(for message: EmailMessage) -> String {
        directory + "/" + Self.fileName(forMessageID: message.messageID)
    }

    /// `[A-Za-z0-9.-]` kept, `_` and every other byte written `_XX`, a leading dot too, then `.eml`.
    ///
    /// Distinct ids give distinct names; an id too long for a file name keeps a readable prefix
    /// and a hash of the whole (`_h…`, never mistaken for `_XX`).
    public static func fileName(forMessageID messageID: String) -> String {
        let id = messageID.trimmingCharacters(in: CharacterSet(charactersIn: "<> \t"))
        let hex = Array("0123456789ABCDEF")
        var name = ""
        for (index, byte) in id.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                name.append(Character(Unicode.Scalar(byte)))
            case UInt8(ascii: ".") where index > 0:
                name.append(".")
            default:
                name += "_" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0f)])
            }
        }
        if name.utf8.count > 200 {
            name = String(name.prefix(160)) + "_h" + String(EmailMessage.stableHash(id), radix: 36)
        }
        return name + ".eml"
    }

    /// Creates the outbox folder and any missing parents, each recorded durably in its parent.
    private func makeDirectory() async throws {
        if Disk.isDirectory(directory) { return }
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if !Disk.isDirectory(prefix) { try await writer.makeDirectory(prefix) }
        }
    }
}

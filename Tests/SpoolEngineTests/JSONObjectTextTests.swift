import Foundation
import Testing

@testable import SpoolEngine

/// run.json and log.jsonl lines are written without Codable; their bytes must stay what the
/// spool's JSON encoders write, since people read them with `cat` and tools parse them.
@Suite struct JSONObjectTextTests {
    static let awkward = "quote \" backslash \\ slash / tab \t line\nreturn\r \u{8}\u{C}\u{0}\u{1F}\u{7F} é ☃ 🧵"

    @Test func runRecordsAreWhatTheEncoderWrites() throws {
        let now = Date(timeIntervalSince1970: 1_795_939_200.123)
        let id = RunID(date: now, function: "send-welcome")
        var record = RunRecord(
            id: id, function: "send-welcome", event: Event(name: "user/signed.up"), eventID: "evt-1", now: now)
        #expect(try record.encoded() == SpoolJSON.encoder.encode(record))

        record.status = .retrying
        record.startedAt = UTCTime.iso8601(now)
        record.finishedAt = UTCTime.iso8601(now.addingTimeInterval(1))
        record.attempt = 3
        record.currentStep = "send email ~1"
        record.wakeAt = UTCTime.iso8601(now.addingTimeInterval(60))
        record.lastError = RecordedError(
            message: Self.awkward, step: "send", type: "SMTPError", nonRetriable: true, at: now)
        record.manualRetries = 2
        record.replayOf = id.rawValue
        #expect(try record.encoded() == SpoolJSON.encoder.encode(record))
        #expect(try RunRecord.decode(record.encoded()) == record)

        record.lastError = RecordedError(message: "between steps", step: nil, type: "Error", at: now)
        #expect(try record.encoded() == SpoolJSON.encoder.encode(record))
    }

    @Test(arguments: [nil, 0, 3, 3.248, 0.001, 1e-5, 123_456.789, -2.5, 1e21])
    func logLinesAreWhatTheLineEncoderWrites(durationMs: Double?) throws {
        let now = Date(timeIntervalSince1970: 1_795_939_200.5)
        let plain = RunLogEntry(at: now, kind: .created)
        #expect(try plain.line == SpoolJSON.lineEncoder.encode(plain))
        let full = RunLogEntry(
            at: now, kind: .stepFailed, step: "process-chunk-7", attempt: 2, durationMs: durationMs,
            error: Self.awkward, wakeAt: now.addingTimeInterval(30))
        #expect(try full.line == SpoolJSON.lineEncoder.encode(full))
        #expect(try JSONDecoder().decode(RunLogEntry.self, from: full.line) == full)
    }
}

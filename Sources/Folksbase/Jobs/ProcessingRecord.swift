import SpoolEngine

/// The first step of the import and export jobs: the record must exist and still be `processing`;
/// anything else fails the run at once, since retrying cannot change it.
enum ProcessingRecord {
    static func require<Record>(
        _ kind: String, id: String, status: (Record) -> JobStatus, fetch: () async throws -> Record?
    ) async throws -> Record {
        guard let record = try await fetch() else { throw NonRetriableError("no \(kind) \(id)") }
        guard status(record) == .processing else {
            throw NonRetriableError("\(kind) \(id) is \(status(record).rawValue), not processing")
        }
        return record
    }
}

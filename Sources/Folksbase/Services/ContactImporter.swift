import SpoolEngine

/// Imports one chunk file: maps its rows to contacts and upserts them in one transaction.
public struct ContactImporter: Sendable {
    let store: any FolksbaseStore
    let writer: DurableWriter

    public init(store: any FolksbaseStore, writer: DurableWriter) {
        self.store = store
        self.writer = writer
    }

    /// The chunk's counts and row errors; applying the same chunk again returns the same result.
    /// With a turn, the chunk is read at once with others and applied after those before it, so the
    /// first row with an email is the one kept, as if the chunks were applied one by one.
    public func importChunk(
        _ chunk: ChunkPlan.Chunk, number: Int, folder: String, columns: ContactColumns, record: ImportRecord,
        turn: StepTurns.Turn? = nil
    ) async throws -> ChunkResult {
        // A chunk that fails before it is queued lets the next one go.
        defer { turn?.pass() }
        let path = folder + "/" + chunk.file
        let (rows, invalid) = try await writer.perform {
            let file = try ChunkFile(path: path)
            var rows: [ContactRow] = []
            var invalid = chunk.problems
            rows.reserveCapacity(chunk.rows)
            while let (row, fields) = try file.next() {
                switch columns.contact(from: fields, row: row) {
                case .success(let contact): rows.append(contact)
                case .failure(let error): invalid.append(error)
                }
            }
            return (rows, invalid)
        }
        await turn?.take()
        var result = try await store.applyImportChunk(
            importID: record.id, workspaceID: record.workspaceId, chunk: number, rows: rows, invalid: invalid,
            whenQueued: { turn?.pass() })
        result.skipped += chunk.problemCount - chunk.problems.count
        return result
    }
}

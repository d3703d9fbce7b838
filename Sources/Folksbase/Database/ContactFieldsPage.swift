/// Where a page of contacts in creation order ends: the last contact's creation time and id.
public struct ContactCursor: Codable, Sendable, Hashable {
    /// Milliseconds since 1970, as the store keeps `created_at`.
    public var createdAt: Int64
    public var id: String

    public init(createdAt: Int64, id: String) {
        self.createdAt = createdAt
        self.id = id
    }
}

/// A page of contacts' exported fields (email, first name, last name, company, phone), packed as
/// UTF-8 bytes in one buffer so that a page of thousands costs no String per field. A missing
/// field reads as empty.
public struct ContactFieldsPage: Sendable {
    public static let fieldCount = 5

    private var bytes: [UInt8] = []
    /// The end offset in `bytes` of each field, row after row.
    private var ends: [Int] = []
    /// After the last contact of the page; nil when the page is empty.
    public internal(set) var cursor: ContactCursor?
    /// Whether contacts may follow the cursor: the page's last read stopped at its limit.
    public internal(set) var mayHaveMore = false

    public var count: Int { ends.count / Self.fieldCount }
    public var byteCount: Int { bytes.count }

    init(capacity: Int) {
        ends.reserveCapacity(capacity * Self.fieldCount)
    }

    /// Adds one contact: `appendField` appends the UTF-8 bytes of field `index` (0..<5) to the buffer it is given.
    mutating func append(fields appendField: (_ index: Int32, _ bytes: inout [UInt8]) -> Void) {
        for index in 0..<Int32(Self.fieldCount) {
            appendField(index, &bytes)
            ends.append(bytes.count)
        }
    }

    /// Adds the contacts of `next`, the page that follows this one; its cursor becomes this page's.
    mutating func append(_ next: ContactFieldsPage) {
        mayHaveMore = next.mayHaveMore
        guard next.count > 0 else { return }
        let offset = bytes.count
        bytes.append(contentsOf: next.bytes)
        ends.append(contentsOf: next.ends.lazy.map { $0 + offset })
        cursor = next.cursor
    }

    /// Calls `body` with each field of contact `row` in turn (field index, bytes).
    public func forEachField(ofRow row: Int, _ body: (Int, UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBufferPointer { buffer in
            var start = row == 0 ? 0 : ends[row * Self.fieldCount - 1]
            for index in 0..<Self.fieldCount {
                let end = ends[row * Self.fieldCount + index]
                body(index, UnsafeBufferPointer(rebasing: buffer[start..<end]))
                start = end
            }
        }
    }
}

/// One record of a CSV file as read.
public struct CSVRecord: Sendable, Hashable {
    /// The decoded fields (quotes removed, `""` read as `"`); best effort for a record with a problem.
    ///
    /// Empty for a blank line and for a `.tooLarge` record.
    public var fields: [String]
    /// The row a spreadsheet shows: 1 for the file's first record (the header), blank lines included.
    public var row: Int
    /// The byte offset in the file where the record starts.
    public var startOffset: Int64
    /// The byte offset just past the record's line end, where the next record starts.
    public var endOffset: Int64
    /// An empty line: no fields at all.
    public var isBlank: Bool
    /// Why the record is malformed; nil when it is well-formed.
    public var problem: CSVProblem?

    public init(
        fields: [String], row: Int, startOffset: Int64, endOffset: Int64, isBlank: Bool = false,
        problem: CSVProblem? = nil
    ) {
        self.fields = fields
        self.row = row
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.isBlank = isBlank
        self.problem = problem
    }
}

/// What is wrong with a malformed CSV record.
public enum CSVProblem: Sendable, Hashable, CustomStringConvertible {
    /// The record's bytes are not valid UTF-8.
    case invalidUTF8
    /// A quoted field is not closed before the end of the file.
    ///
    /// The record is taken to end at its first line end (where reading resumes), so one stray
    /// quote costs one row, not the rest of the file.
    case unterminatedQuote
    /// A closing quote is followed by text, as in `"abc"def`.
    case textAfterClosingQuote
    /// An unquoted field holds a quote, as in `ab"c`.
    case quoteInUnquotedField
    /// The record, not counting its line end, is longer than `limit` bytes; its fields are not read.
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .invalidUTF8: "bad encoding: the row is not valid UTF-8 (save the file as UTF-8)"
        case .unterminatedQuote: "bad quoting: a quoted field is never closed"
        case .textAfterClosingQuote: "bad quoting: text after a closing quote"
        case .quoteInUnquotedField:
            "bad quoting: a quote inside an unquoted field (quote the field and double the quote)"
        case .tooLarge(let limit): "the row is longer than \(limit) bytes"
        }
    }
}

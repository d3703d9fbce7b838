import Foundation
import SpoolEngine

/// Which CSV column holds which contact field, and how a record becomes a contact or a row error.
public struct ContactColumns: Sendable, Hashable {
    /// The contact fields an import can fill.
    public enum Field: String, Sendable, CaseIterable, Codable {
        case email, firstName, lastName, company, phone
    }

    /// Header names recognised without a mapping, compared with case, spaces and punctuation removed.
    static let aliases: [String: Field] = {
        let table: [Field: [String]] = [
            .email: ["email", "e-mail", "email address", "e-mail address", "mail", "emailaddress"],
            .firstName: ["first name", "firstname", "first", "given name", "forename"],
            .lastName: ["last name", "lastname", "last", "surname", "family name"],
            .company: ["company", "company name", "organization", "organisation", "org", "employer", "account"],
            .phone: ["phone", "phone number", "telephone", "tel", "mobile", "cell", "mobile phone"],
        ]
        var aliases: [String: Field] = [:]
        for (field, names) in table { for name in names { aliases[squash(name)] = field } }
        return aliases
    }()

    /// The most characters of a header quoted in an error (it lands in run.json, the import and an email).
    static let maxHeaderShown = 500

    /// The longest value kept in a field.
    public static let maxFieldLength = 1000

    /// Column index of each field.
    public let columns: [Field: Int]
    public let headerCount: Int
    /// `columns` in `Field.allCases` order, nil where absent: read for every row without hashing.
    private let columnOfField: [Int?]

    /// Columns from the import's mapping (CSV header → field), then from the header's names for
    /// the fields the mapping leaves out, among the columns it leaves out.
    ///
    /// A mapping's column names are compared as the header's are: trimmed, and without the quote
    /// an export puts before a value a spreadsheet would run as a formula.
    public init(header: [String], mapping: [String: String]? = nil) throws {
        var columns: [Field: Int] = [:]
        let names = header.map(Self.columnName)
        if let mapping {
            if let problem = Self.problem(inMapping: mapping) { throw NonRetriableError(problem) }
            for (column, fieldName) in mapping {
                guard let index = names.firstIndex(of: Self.columnName(column)) else {
                    throw NonRetriableError("the column mapping names column \"\(column)\", which the header lacks")
                }
                columns[Field(rawValue: fieldName)!] = index
            }
        }
        let mapped = Set(columns.values)
        for (index, name) in names.enumerated() where !mapped.contains(index) {
            if let field = Self.aliases[Self.squash(name)], columns[field] == nil { columns[field] = index }
        }
        guard columns[.email] != nil else {
            var shown = names.joined(separator: ",")
            if shown.count > Self.maxHeaderShown {
                shown = shown.prefix(Self.maxHeaderShown) + "… (\(names.count) columns)"
            }
            var hint = "name one \"Email\" or map one to email with --mapping"
            if names.count == 1, let separator = [";", "\t", "|"].first(where: { names[0].contains($0) }) {
                hint = "the file looks separated by \(separator.debugDescription), not commas: save it as CSV"
            }
            throw NonRetriableError("no email column: the header is \(shown); \(hint)")
        }
        self.columns = columns
        self.headerCount = header.count
        self.columnOfField = Field.allCases.map { columns[$0] }
    }

    /// What is wrong with a column mapping (CSV column → field), or nil: every field must be a
    /// contact field, and no field may come from two columns.
    public static func problem(inMapping mapping: [String: String]) -> String? {
        let fields = Field.allCases.map(\.rawValue).joined(separator: ", ")
        var columnOfField: [String: String] = [:]
        for (column, field) in mapping.sorted(by: { $0.key < $1.key }) {
            guard Field(rawValue: field) != nil else {
                return "the column mapping sends column \"\(column)\" to \"\(field)\", which is not a contact field; "
                    + "fields are \(fields)"
            }
            if let other = columnOfField.updateValue(column, forKey: field) {
                return "the column mapping sends both column \"\(other)\" and column \"\(column)\" to \(field); "
                    + "map one column to each field"
            }
        }
        return nil
    }

    private static func columnName(_ name: String) -> String {
        CSVWriter.unneutralize(name).trimmingCharacters(in: .whitespaces)
    }

    /// The contact in a well-formed data record's fields, or why the record cannot be imported.
    public func contact(from fields: ArraySlice<String>, row: Int) -> Result<ContactRow, RowError> {
        if fields.count > headerCount {
            return .failure(RowError(row: row, reason: "\(fields.count) fields, but the header has \(headerCount)"))
        }
        func value(_ field: Field) -> String? {
            guard let index = columnOfField[field.position], index < fields.count else { return nil }
            let text = CSVWriter.unneutralize(fields[fields.startIndex + index]).trimmingWhitespace()
            return text.isEmpty ? nil : text
        }
        guard let rawEmail = value(.email) else { return .failure(RowError(row: row, reason: "missing email")) }
        let email = ContactEmail.normalize(rawEmail)
        guard ContactEmail.isValid(normalized: email) else {
            return .failure(RowError(row: row, reason: "invalid email \"\(rawEmail.prefix(100))\"", email: email))
        }
        let contact = NewContact(
            email: email, firstName: value(.firstName), lastName: value(.lastName), company: value(.company),
            phone: value(.phone))
        let values = [rawEmail, contact.firstName, contact.lastName, contact.company, contact.phone]
        for (field, text) in zip(Field.allCases, values) {
            if let text, text.utf8.contains(0) {
                return .failure(RowError(row: row, reason: "\(field.rawValue) contains a NUL character", email: email))
            }
            guard let text, text.utf8.count > Self.maxFieldLength, text.count > Self.maxFieldLength else { continue }
            return .failure(
                RowError(
                    row: row, reason: "\(field.rawValue) is longer than \(Self.maxFieldLength) characters", email: email
                ))
        }
        return .success(ContactRow(row: row, contact: contact))
    }

    static func squash(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) })
    }
}

extension ContactColumns.Field {
    /// The field's place in `allCases`.
    var position: Int {
        switch self {
        case .email: 0
        case .firstName: 1
        case .lastName: 2
        case .company: 3
        case .phone: 4
        }
    }
}

/// A row error is the failure side of mapping a record.
extension RowError: Error {}

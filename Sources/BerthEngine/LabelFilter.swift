/// Docker's `label` filters: `key` (present) or `key=value` (equal, `key=` for the empty value),
/// every one must match (moby's `MatchKVList`).
enum LabelFilter {
    static func matches(_ filters: [String]?, _ labels: [String: String]?) -> Bool {
        for filter in filters ?? [] {
            let kv = filter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let key = kv.first, let value = labels?[key], kv.count == 1 || value == kv[1] else { return false }
        }
        return true
    }
}

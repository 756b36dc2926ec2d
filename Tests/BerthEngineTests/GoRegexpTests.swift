import Testing
@testable import BerthEngine

/// Go's regexp.MatchString on the patterns `labels-regex`/`env-regex` take, in linear time.
@Suite struct GoRegexpTests {
    func m(_ pattern: String, _ text: String) throws -> Bool { try GoRegexp(pattern).matches(text) }

    @Test func matchesAsGo() throws {
        #expect(try m("^com\\.example\\.", "com.example.tier"))
        #expect(try !m("^com\\.example\\.", "org.com.example.x"))
        #expect(try m("TIER", "APP_TIER_NAME"))  // unanchored
        #expect(try m("^(APP|SVC)_[A-Z]+$", "SVC_NAME") && !m("^(APP|SVC)_[A-Z]+$", "SVC_name"))
        #expect(try m("(?i)^path$", "PATH") && !m("^path$", "PATH"))
        #expect(try m("a{2,3}b", "xaaab") && !m("^a{2,3}b", "ab") && m("^a{2}$", "aa") && !m("^a{2}$", "aaa"))
        #expect(try m("^[^_]+$", "HOME") && !m("^[^_]+$", "MY_HOME"))
        #expect(try m("^[[:upper:]_]+$", "A_B") && m("\\bword\\b", "a word here") && !m("\\bword\\b", "swordfish"))
        #expect(try m("^\\d+\\s\\w+$", "42 abc") && m("x*", "") && m("^$", "") && m("a.c", "abc") && !m("a.c", "a\nc"))
        #expect(try m("(?s)a.c", "a\nc") && m("(?m)^b$", "a\nb\nc") && !m("^b$", "a\nb\nc"))
        #expect(try m("(a*)*b", "aaab") && m("colou?r", "color") && m("x{", "x{") && m("(?P<n>ab)+", "abab"))
    }

    @Test func refusesWhatGoRefuses() {
        for bad in ["(", ")", "a**", "*a", "[a", "a{1001}", "\\1", "x{2,1}", String(repeating: "(", count: 300) + String(repeating: ")", count: 300)] {
            #expect(throws: GoRegexp.SyntaxError.self, "\(bad)") { try GoRegexp(bad) }
        }
        #expect(throws: GoRegexp.SyntaxError.self) { try GoRegexp("((a{1000}){1000}){1000}") }
        #expect(throws: GoRegexp.SyntaxError.self) { try GoRegexp(String(repeating: "a", count: 1 << 20)) }
    }

    /// The pattern that takes a backtracking engine exponential time answers at once here.
    @Test func noCatastrophicBacktracking() throws {
        let text = String(repeating: "a", count: 5_000) + "!"
        #expect(try !m("^(a+)+$", text))
        #expect(try !m("^(a|a)*$", text))
    }
}

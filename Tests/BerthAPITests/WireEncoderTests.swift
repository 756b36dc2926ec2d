import BerthOCI
import Testing
@testable import BerthAPI

/// Responses as Go's `encoding/json` marshals moby's structs (with `SetEscapeHTML(false)`, as
/// moby's `WriteJSON`): the expected texts are what Go writes for the same struct.
@Suite struct WireEncoderTests {
    struct Inner: GoEncodable {
        var Name: String
        var Tags: [String]?
        var Empty: String = ""
        static var omitEmptyKeys: Set<String> { ["Empty", "Skipped"] }
        var Skipped: [String]?
    }

    struct Outer: GoEncodable {
        var Id: String
        var Count: Int64
        var Ratio: Double
        var Flag: Bool
        var Missing: String?
        var Labels: [String: String]
        var Items: [Inner]
        var Nested: [[Int]]
    }

    @Test func fieldsInDeclarationOrderNilAsNullOmitEmptyAndSortedMaps() throws {
        let value = Outer(Id: "x", Count: -3, Ratio: 1.5, Flag: false, Missing: nil, Labels: ["b": "2", "a": "1", "c": "3"],
                          Items: [Inner(Name: "n", Tags: nil), Inner(Name: "m", Tags: ["t"], Empty: "e", Skipped: ["s"])],
                          Nested: [[1, 2], []])
        let text = String(decoding: try WireEncoder.encode(value), as: UTF8.self)
        #expect(text == #"{"Id":"x","Count":-3,"Ratio":1.5,"Flag":false,"Missing":null,"Labels":{"a":"1","b":"2","c":"3"},"#
                + #""Items":[{"Name":"n","Tags":null},{"Name":"m","Tags":["t"],"Empty":"e","Skipped":["s"]}],"Nested":[[1,2],[]]}"#)
    }

    @Test func stringsEscapedAsGoWithoutHTMLEscaping() {
        let cases: [(String, String)] = [
            ("plain", #""plain""#),
            ("a\"b\\c", #""a\"b\\c""#),
            ("l1\nl2\r\t", #""l1\nl2\r\t""#),
            ("\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}", #""\u0000\u0001\u0008\u000c\u001f"# + "\u{7f}\""),
            ("<a&b>", #""<a&b>""#),  // moby turns HTML escaping off
            ("é 漢 🚢", "\"é 漢 🚢\""),
            ("x\u{2028}y\u{2029}z", #""x\u2028y\u2029z""#),  // Go escapes these two always
            ("", #""""#),
        ]
        for (input, expected) in cases {
            #expect(JSONText.quote(input) == expected, "\(input.debugDescription)")
        }
    }

    /// A container's inspect has about 250 keys: encoding must stay linear in them.
    @Test func largeObjectsKeepEveryKeyInOrder() throws {
        let map = Dictionary(uniqueKeysWithValues: (0..<2000).map { ("k" + String(String(100_000 + $0).dropFirst()), $0) })
        let bytes = try WireEncoder.encode(map)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"k00000":0,"k00001":1,"#) && text.hasSuffix(#""k01999":1999}"#))
    }
}

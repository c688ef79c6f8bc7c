/// The strict parser: what it accepts, what it refuses, and that refusals never crash.
import Testing

@testable import AssayInfotable

struct JSONParserTests {
    @Test(arguments: [
        "null", "true", "false", "0", "-0", "1", "-17", "1.5", "-2.5e-3", "1E+2", "\"\"", "\"a\\u00e9\\n\"",
        "[]", "{}", "[1,[2,[3]]]", "{\"a\":{\"b\":[null,true,1.25,\"x\"]}}", " \t\r\n[ 1 , 2 ] ",
        "\"\\ud83d\\ude00\"", "\"caf\u{e9} \u{1F600}\"", "9223372036854775807", "-9223372036854775808",
        "1.7976931348623157e308", "5e-324",
    ])
    func validDocumentsRoundTripThroughTheWriter(text: String) throws {
        let value = try JSON.parse(text)
        #expect(try JSON.parse(JSON.string(value)) == value)
    }

    @Test(arguments: [
        ("", "end of input"), ("[1, 2", "end of input"), ("{\"a\": 1", "end of input"), ("\"abc", "unterminated"),
        ("[1, 2,]", "unexpected character"), ("{\"a\": 1,}", "member name"), ("{'a': 1}", "member name"),
        ("'a'", "unexpected character"), ("\"\\x\"", "invalid escape"), ("\"\\u12G4\"", "hex digit"),
        ("\"\\u12\"", "truncated"), ("\"\\ud800\"", "lone high surrogate"), ("\"\\udc00\"", "lone low surrogate"),
        ("\"\\ud800\\u0041\"", "invalid low surrogate"), ("\"a\u{1}b\"", "control character"),
        ("\"tab\there\"", "control character"), ("01", "after the JSON value"), ("[-01]", "expected ','"),
        ("NaN", "unexpected character"), ("Infinity", "unexpected character"), ("-Infinity", "invalid number"),
        ("1.", "digits after"), ("1e", "exponent"), ("-", "truncated"), ("tru", "end of input"),
        ("nul", "end of input"), ("truth", "invalid literal"), ("[1] [2]", "after the JSON value"),
        ("{\"a\" 1}", "expected ':'"), ("{1: 2}", "member name"), ("+1", "unexpected character"),
        (".5", "unexpected character"), ("1e400", "out of range"), ("-1e400", "out of range"),
    ])
    func malformedDocumentsAreRefusedWithAReason(text: String, reason: String) {
        #expect {
            _ = try JSON.parse(text)
        } throws: { error in
            (error as? JSONParseError)?.reason.contains(reason) == true
        }
    }

    @Test(
        arguments: [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22],
            [0x22, 0x5C, 0x6E, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22],
        ] as [[UInt8]])
    func invalidUTF8InStringsIsRefused(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { _ = try JSON.parse(bytes) }
    }

    @Test func aByteOrderMarkIsNotWhitespace() {
        #expect(throws: JSONParseError.self) { _ = try JSON.parse([0xEF, 0xBB, 0xBF, 0x31]) }
    }

    @Test func oneHundredThousandOpenBracketsThrowInsteadOfOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000)
        #expect { _ = try JSON.parse(deep) } throws: { error in
            (error as? JSONParseError)?.reason.contains("nesting deeper") == true
        }
        let deepObjects = String(repeating: "{\"a\":", count: 100_000)
        #expect(throws: JSONParseError.self) { _ = try JSON.parse(deepObjects) }
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = JSON.defaultMaxDepth
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        _ = try JSON.parse(text)
        #expect(throws: JSONParseError.self) { _ = try JSON.parse("[" + text + "]") }
    }

    @Test(arguments: [
        ("1", JSONValue.int(1)), ("1.0", .double(1)), ("-0", .int(0)), ("1e2", .double(100)),
        ("9223372036854775807", .int(Int64.max)), ("-9223372036854775808", .int(Int64.min)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808)),
        ("-9223372036854775809", .double(-9.223372036854775809e18)),
        ("123456789012345678901234567890", .double(1.2345678901234568e29)),
    ])
    func integersStayIntegersAndEverythingElseIsADouble(text: String, expected: JSONValue) throws {
        #expect(try JSON.parse(text) == expected)
    }

    @Test func aRepeatedMemberNameKeepsTheLastValueInTheFirstPosition() throws {
        let value = try JSON.parse("{\"a\": 1, \"b\": 2, \"a\": 3}")
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == .int(3))
    }

    @Test func objectsKeepDocumentOrder() throws {
        let value = try JSON.parse("{\"z\": 1, \"a\": 2, \"m\": 3}")
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(JSON.string(value) == "{\"z\":1,\"a\":2,\"m\":3}")
    }

    @Test func errorsPointAtTheOffendingByte() {
        #expect { _ = try JSON.parse("[1, x]") } throws: { error in
            (error as? JSONParseError)?.offset == 4
        }
    }
}

struct JSONWriterTests {
    @Test(arguments: [
        (JSONValue.double(2), "2.0"), (.int(2), "2"), (.double(1.5), "1.5"), (.double(.nan), "null"),
        (.double(.infinity), "null"), (.string("a\"b\\c\n\t\u{1}"), "\"a\\\"b\\\\c\\n\\t\\u0001\""),
        (.array([.null, .bool(true)]), "[null,true]"), (.double(1e300), "1e+300"),
    ])
    func valuesAreWrittenAsCompactJSON(value: JSONValue, text: String) {
        #expect(JSON.string(value) == text)
    }

    @Test func everyFiniteDoubleReadsBackAsTheSameDouble() throws {
        let doubles = [0.1, -0.0, 1e15, 1e16, 123456.789, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.0]
        for d in doubles {
            #expect(try JSON.parse(JSON.string(.double(d))) == .double(d))
        }
    }
}

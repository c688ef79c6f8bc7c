// The XML reader on malformed and hostile input: every case must end in a PMMLError, never a crash,
// a hang or unbounded memory.

import Testing

@testable import AssayPMML

private func parse(_ text: String) throws(PMMLError) -> XMLElement {
    try XMLReader.parse(Array(text.utf8))
}

@Test("well-formed XML with entities, CDATA, comments and prefixes")
func wellFormed() throws {
    let root = try parse(
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!-- comment --><p:PMML xmlns:p="urn:x" version='4.4'><a b="x &amp; &#65;&#x42; &lt;"/>\
        <t><![CDATA[<raw>&amp;]]> tail</t><?pi ignored?></p:PMML>
        """)
    #expect(root.name == "PMML")
    #expect(root.attribute("version") == "4.4")
    #expect(root.children[0].attribute("b") == "x & AB <")
    #expect(root.children[1].text == "<raw>&amp; tail")
}

@Test(
    "malformed XML is refused with an error",
    arguments: [
        "", "   ", "<a>", "<a></b>", "</a>", "<a><b></a></b>", "<a b=c/>", "<a b=\"1\" b=\"2\"/>", "<a>&bogus;</a>",
        "<a>&#0;</a>", "<a>&#xFFFFFFFF;</a>", "<a>&amp</a>", "<a/><b/>", "text<a/>", "<a b=\"<\"/>", "<a><!-- open</a>",
        "<a><![CDATA[ open</a>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<1a/>", "<a\u{1}/>", "<a>]]></a>",
    ])
func malformed(_ text: String) {
    #expect(throws: PMMLError.self) { _ = try parse(text) }
}

@Test("deep nesting is refused, not a stack overflow")
func deepNesting() {
    let depth = 100_000
    let text = String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
    #expect(throws: PMMLError.self) { _ = try parse(text) }
}

@Test("a huge attribute value parses without trouble")
func hugeAttribute() throws {
    let value = String(repeating: "x", count: 5_000_000)
    let root = try parse("<a v=\"\(value)\"/>")
    #expect(root.attribute("v")?.utf8.count == 5_000_000)
}

@Test("binary garbage and invalid UTF-8 are refused")
func garbage() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<50 {
        let bytes = (0..<Int.random(in: 1...2000, using: &generator)).map { _ in
            UInt8.random(in: 0...255, using: &generator)
        }
        #expect(throws: PMMLError.self) { _ = try XMLReader.parse(bytes) }
    }
    #expect(throws: PMMLError.self) { _ = try XMLReader.parse([0x3C, 0x61, 0xFF, 0x2F, 0x3E]) }
}

@Test("a document that is not PMML, or uses an unsupported model, names the problem")
func notPMML() {
    do {
        _ = try PMMLModel.load(Array("<html/>".utf8))
        Issue.record("loaded HTML")
    } catch {
        #expect(error.element == "html")
    }
    let association = """
        <PMML version="4.4"><DataDictionary/><AssociationModel functionName="associationRules"/></PMML>
        """
    do {
        _ = try PMMLModel.load(Array(association.utf8))
        Issue.record("loaded an AssociationModel")
    } catch {
        #expect(error.element == "AssociationModel")
        #expect(error.message == "unsupported PMML element 'AssociationModel'")
    }
}

// A minimal, strict XML reader for PMML documents: elements, attributes, character data, the five
// predefined entities, character references, CDATA, comments and processing instructions. Namespace
// prefixes are dropped (elements and attributes are matched by local name). DTDs with an internal
// subset are refused rather than expanded, so entity-expansion attacks cannot work; nesting is capped
// so that hostile documents fail with an error instead of exhausting memory or the stack.

/// One parsed element. The tree is only used while compiling; nothing walks it at scoring time.
final class XMLElement {
    let name: String
    var attributes: [(name: String, value: String)]
    var children: [XMLElement] = []
    var text: String = ""
    let line: Int

    init(name: String, attributes: [(name: String, value: String)], line: Int) {
        self.name = name
        self.attributes = attributes
        self.line = line
    }

    func attribute(_ key: String) -> String? {
        for attribute in attributes where attribute.name == key { return attribute.value }
        return nil
    }

    func child(_ name: String) -> XMLElement? {
        for child in children where child.name == name { return child }
        return nil
    }

    func children(_ name: String) -> [XMLElement] {
        children.filter { $0.name == name }
    }

    /// Required attribute; the error names the element so that the author can find it.
    func required(_ key: String) throws(PMMLError) -> String {
        guard let value = attribute(key) else {
            throw PMMLError("element '\(name)' (line \(line)) lacks the required attribute '\(key)'", element: name)
        }
        return value
    }

    func double(_ key: String) throws(PMMLError) -> Double? {
        guard let raw = attribute(key) else { return nil }
        guard let value = parseDouble(raw) else {
            throw PMMLError(
                "attribute '\(key)' of element '\(name)' (line \(line)) is not a number: '\(raw)'",
                element: name)
        }
        return value
    }

    func double(_ key: String, default value: Double) throws(PMMLError) -> Double {
        try double(key) ?? value
    }

    func requiredDouble(_ key: String) throws(PMMLError) -> Double {
        guard let value = try double(key) else {
            throw PMMLError("element '\(name)' (line \(line)) lacks the required attribute '\(key)'", element: name)
        }
        return value
    }

    func int(_ key: String) throws(PMMLError) -> Int? {
        guard let raw = attribute(key) else { return nil }
        guard let value = Int(raw.trimmingSpaces()) else {
            throw PMMLError(
                "attribute '\(key)' of element '\(name)' (line \(line)) is not an integer: '\(raw)'",
                element: name)
        }
        return value
    }
}

/// Parses a number the way PMML writes them (XML Schema double: also INF, -INF, NaN).
func parseDouble(_ raw: String) -> Double? {
    let text = raw.trimmingSpaces()
    switch text {
    case "INF", "Infinity", "+INF": return .infinity
    case "-INF", "-Infinity": return -.infinity
    case "NaN": return .nan
    default: break
    }
    if text.isEmpty { return nil }
    // Swift's parser accepts hexadecimal floats and "nan"/"inf" spellings that PMML does not; refuse those.
    for unit in text.utf8 {
        switch unit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            continue
        default:
            return nil
        }
    }
    return Double(text)
}

extension String {
    func trimmingSpaces() -> String {
        let utf8 = self.utf8
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, isXMLSpace(utf8[start]) { start = utf8.index(after: start) }
        while end > start, isXMLSpace(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        if start == utf8.startIndex && end == utf8.endIndex { return self }
        return String(self[start..<end])
    }
}

@inline(__always) func isXMLSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}

// The byte-level XML reader behind `XMLElement`. It works on the UTF-8 bytes directly and builds the
// element tree with an explicit stack (no recursion), so nesting depth is bounded by `maximumDepth`
// rather than by the thread's stack. Anything not well-formed is refused with the line it was found on.

struct XMLReader {
    static let maximumDepth = 400
    static let maximumNameLength = 4096

    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    static func parse(_ document: [UInt8]) throws(PMMLError) -> XMLElement {
        guard String(validating: document, as: UTF8.self) != nil else {
            throw PMMLError("the document is not valid UTF-8 text; PMML must be XML in UTF-8")
        }
        var reader = XMLReader(document)
        return try reader.document()
    }

    private func fail(_ message: String) -> PMMLError {
        PMMLError("malformed XML at line \(line): \(message)")
    }

    private var atEnd: Bool { position >= bytes.count }

    private func peek(_ offset: Int = 0) -> UInt8 {
        let index = position + offset
        return index < bytes.count ? bytes[index] : 0
    }

    private func starts(with literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let base = literal.utf8Start
        for index in 0..<count where bytes[position + index] != base[index] { return false }
        return true
    }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count {
            if position < bytes.count && bytes[position] == 0x0A { line += 1 }
            position += 1
        }
    }

    private mutating func skipSpaces() {
        while !atEnd && isXMLSpace(bytes[position]) { advance() }
    }

    /// Skips up to and including `terminator`; fails if the document ends first.
    private mutating func skip(past terminator: StaticString, what: String) throws(PMMLError) {
        while !atEnd {
            if starts(with: terminator) {
                advance(terminator.utf8CodeUnitCount)
                return
            }
            advance()
        }
        throw fail("unterminated \(what)")
    }

    private mutating func document() throws(PMMLError) -> XMLElement {
        if starts(with: "\u{FEFF}") { position += 3 }
        var root: XMLElement?
        var stack: [XMLElement] = []
        var text: [UInt8] = []
        while !atEnd {
            let byte = bytes[position]
            if byte != UInt8(ascii: "<") {
                if stack.isEmpty {
                    guard isXMLSpace(byte) else { throw fail("text outside the root element") }
                    advance()
                } else {
                    try characterData(into: &text)
                }
                continue
            }
            if starts(with: "<!--") {
                advance(4)
                try skip(past: "-->", what: "comment")
            } else if starts(with: "<?") {
                advance(2)
                try skip(past: "?>", what: "processing instruction")
            } else if starts(with: "<![CDATA[") {
                guard !stack.isEmpty else { throw fail("CDATA outside the root element") }
                advance(9)
                let start = position
                try skip(past: "]]>", what: "CDATA section")
                text.append(contentsOf: bytes[start..<(position - 3)])
            } else if starts(with: "<!DOCTYPE") {
                guard root == nil && stack.isEmpty else { throw fail("DOCTYPE after the root element started") }
                try doctype()
            } else if starts(with: "</") {
                advance(2)
                let name = try self.name()
                skipSpaces()
                guard peek() == UInt8(ascii: ">") else { throw fail("expected '>' to close '</\(name)'") }
                advance()
                guard let open = stack.popLast() else { throw fail("closing tag '</\(name)>' without an open element") }
                guard open.name == localName(name) else {
                    throw fail("closing tag '</\(name)>' does not match '<\(open.name)>' opened at line \(open.line)")
                }
                flush(&text, into: open)
            } else {
                advance()
                if let open = stack.last { flush(&text, into: open) }
                let (element, selfClosing) = try startTag()
                if let parent = stack.last {
                    parent.children.append(element)
                } else {
                    guard root == nil else { throw fail("a second root element '<\(element.name)>'") }
                    root = element
                }
                if !selfClosing {
                    stack.append(element)
                    guard stack.count <= XMLReader.maximumDepth else {
                        throw fail("elements nested deeper than \(XMLReader.maximumDepth) levels")
                    }
                }
            }
        }
        if let open = stack.last { throw fail("element '<\(open.name)>' opened at line \(open.line) is never closed") }
        guard let root else { throw fail("the document has no root element") }
        return root
    }

    private func flush(_ text: inout [UInt8], into element: XMLElement) {
        guard !text.isEmpty else { return }
        element.text += String(decoding: text, as: UTF8.self)
        text.removeAll(keepingCapacity: true)
    }

    private mutating func doctype() throws(PMMLError) {
        advance(9)
        while !atEnd {
            let byte = bytes[position]
            if byte == UInt8(ascii: "[") {
                throw fail("DOCTYPE with an internal subset is not accepted (entity declarations are refused)")
            }
            advance()
            if byte == UInt8(ascii: ">") { return }
        }
        throw fail("unterminated DOCTYPE")
    }

    private func localName(_ name: String) -> String {
        guard let colon = name.utf8.lastIndex(of: UInt8(ascii: ":")) else { return name }
        return String(name[name.utf8.index(after: colon)...])
    }

    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: ":") || byte >= 0x80
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        isNameStart(byte) || (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    private mutating func name() throws(PMMLError) -> String {
        let start = position
        guard !atEnd, XMLReader.isNameStart(bytes[position]) else {
            throw fail(atEnd ? "the document ends inside a tag" : "expected a name, found '\(printable(peek()))'")
        }
        while !atEnd && XMLReader.isNameByte(bytes[position]) { position += 1 }
        guard position - start <= XMLReader.maximumNameLength else { throw fail("a name longer than 4096 bytes") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
    }

    private mutating func startTag() throws(PMMLError) -> (XMLElement, Bool) {
        let tagLine = line
        let qualified = try name()
        var attributes: [(name: String, value: String)] = []
        var seen: Set<String> = []
        while true {
            let hadSpace = !atEnd && isXMLSpace(bytes[position])
            skipSpaces()
            guard !atEnd else { throw fail("the document ends inside the tag '<\(qualified)'") }
            if peek() == UInt8(ascii: "/") {
                guard peek(1) == UInt8(ascii: ">") else { throw fail("expected '/>' in '<\(qualified)'") }
                advance(2)
                return (XMLElement(name: localName(qualified), attributes: attributes, line: tagLine), true)
            }
            if peek() == UInt8(ascii: ">") {
                advance()
                return (XMLElement(name: localName(qualified), attributes: attributes, line: tagLine), false)
            }
            guard hadSpace else { throw fail("expected a space before an attribute in '<\(qualified)'") }
            let attributeName = try name()
            guard seen.insert(attributeName).inserted else {
                throw fail("attribute '\(attributeName)' repeated in '<\(qualified)'")
            }
            skipSpaces()
            guard peek() == UInt8(ascii: "=") else { throw fail("expected '=' after attribute '\(attributeName)'") }
            advance()
            skipSpaces()
            let quote = peek()
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw fail("the value of attribute '\(attributeName)' is not quoted")
            }
            advance()
            var value: [UInt8] = []
            while true {
                guard !atEnd else { throw fail("unterminated value of attribute '\(attributeName)'") }
                let byte = bytes[position]
                if byte == quote {
                    advance()
                    break
                }
                if byte == UInt8(ascii: "<") { throw fail("'<' inside the value of attribute '\(attributeName)'") }
                if byte == UInt8(ascii: "&") {
                    try entity(into: &value)
                } else {
                    // Attribute-value normalisation: literal white space becomes a space.
                    value.append(isXMLSpace(byte) ? 0x20 : byte)
                    advance()
                }
            }
            if attributeName == "xmlns" || attributeName.hasPrefix("xmlns:") { continue }
            attributes.append((localName(attributeName), String(decoding: value, as: UTF8.self)))
        }
    }

    private mutating func characterData(into text: inout [UInt8]) throws(PMMLError) {
        while !atEnd {
            let byte = bytes[position]
            if byte == UInt8(ascii: "<") { return }
            if byte == UInt8(ascii: "&") {
                try entity(into: &text)
            } else {
                if byte == UInt8(ascii: ">") && position >= 2 && bytes[position - 1] == UInt8(ascii: "]")
                    && bytes[position - 2] == UInt8(ascii: "]")
                {
                    throw fail("']]>' in character data")
                }
                if byte < 0x20 && !isXMLSpace(byte) { throw fail("control character \(byte) in character data") }
                text.append(byte)
                advance()
            }
        }
    }

    private mutating func entity(into out: inout [UInt8]) throws(PMMLError) {
        advance()
        let start = position
        while !atEnd && bytes[position] != UInt8(ascii: ";") && position - start < 12 { position += 1 }
        guard !atEnd && bytes[position] == UInt8(ascii: ";") else { throw fail("unterminated entity reference") }
        let body = String(decoding: bytes[start..<position], as: UTF8.self)
        position += 1
        switch body {
        case "lt": out.append(UInt8(ascii: "<"))
        case "gt": out.append(UInt8(ascii: ">"))
        case "amp": out.append(UInt8(ascii: "&"))
        case "quot": out.append(UInt8(ascii: "\""))
        case "apos": out.append(UInt8(ascii: "'"))
        default:
            var code: UInt32?
            if body.hasPrefix("#x") {
                code = UInt32(body.dropFirst(2), radix: 16)
            } else if body.hasPrefix("#") {
                code = UInt32(body.dropFirst(1), radix: 10)
            } else {
                throw fail("unknown entity '&\(body);' (only the five XML entities are defined)")
            }
            guard let code, let scalar = Unicode.Scalar(code), code != 0,
                code >= 0x20 || code == 0x9 || code == 0xA || code == 0xD
            else {
                throw fail("invalid character reference '&\(body);'")
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
    }
}

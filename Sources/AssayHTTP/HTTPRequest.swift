// A request as the server hands it to a handler: everything already received and decoded, so a handler never
// touches libmicrohttpd. Header names are lower-cased once here; the body is complete (chunked uploads are already
// de-chunked by libmicrohttpd) and never larger than the server's maxBodyBytes.

public struct HTTPRequest: Sendable {
    public let method: String
    /// Percent-decoded, without the query.
    public let path: String
    /// Decoded query parameters; a parameter without "=" maps to "". When a name repeats, the last one wins.
    public let query: [String: String]
    /// In arrival order, names lower-cased.
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public init(
        method: String, path: String, query: [String: String] = [:],
        headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers.map { (name: asciiLowercased($0.name), value: $0.value) }
        self.body = body
    }

    /// Internal initializer for headers already lower-cased by the server.
    init(
        method: String, path: String, query: [String: String],
        lowercasedHeaders: [(name: String, value: String)], body: [UInt8]
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = lowercasedHeaders
        self.body = body
    }

    /// Case-insensitive; the first header of that name.
    public func header(_ name: String) -> String? {
        let wanted = asciiLowercased(name)
        for header in headers where header.name == wanted {
            return header.value
        }
        return nil
    }

    /// The Cookie header(s) split into name/value pairs; surrounding quotes on values are removed.
    public var cookies: [String: String] {
        var result: [String: String] = [:]
        for header in headers where header.name == "cookie" {
            for part in header.value.split(separator: ";") {
                guard let equals = part.firstIndex(of: "=") else { continue }
                let name = part[..<equals].trimmingASCIISpaces()
                var value = part[part.index(after: equals)...].trimmingASCIISpaces()
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                    value = value.dropFirst().dropLast()
                }
                if !name.isEmpty {
                    result[String(name)] = String(value)
                }
            }
        }
        return result
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }
}

/// ASCII-only lower-casing: header names are tokens, and Unicode case mapping is both slower and wrong for them.
func asciiLowercased(_ string: String) -> String {
    let utf8 = string.utf8
    guard utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return string }
    return String(unsafeUninitializedCapacity: utf8.count) { buffer in
        var count = 0
        for byte in utf8 {
            buffer[count] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            count += 1
        }
        return count
    }
}

// A response as HTTPClient received it: the body complete (de-chunked), header names lower-cased.

public struct HTTPClientResponse: Sendable {
    public let status: Int
    /// In arrival order, names lower-cased.
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Case-insensitive; the first header of that name.
    public func header(_ n: String) -> String? {
        let wanted = asciiLowercased(n)
        for header in headers where header.name == wanted {
            return header.value
        }
        return nil
    }
}

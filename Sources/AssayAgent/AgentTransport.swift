/// One HTTP connection to the server as the protocol client needs it. `AssayHTTP.HTTPClient` is the
/// real one; tests put an in-process fake server behind it. A transport is used by one thread at a time.
public protocol AgentTransport: AnyObject {
    /// Sends one request and answers the reply; throws only when no reply came (connection refused,
    /// reset, timed out).
    func exchange(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8])
        throws -> AgentTransportReply
    func close()
}

public struct AgentTransportReply: Sendable {
    public var status: Int
    /// The `Retry-After` header, when the server sent one.
    public var retryAfter: String?
    public var body: [UInt8]

    public init(status: Int, retryAfter: String? = nil, body: [UInt8]) {
        self.status = status
        self.retryAfter = retryAfter
        self.body = body
    }
}

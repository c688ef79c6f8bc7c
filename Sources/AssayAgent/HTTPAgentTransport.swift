import AssayHTTP
import AssayInfotable

/// Puts the agent protocol on `AssayHTTP.HTTPClient`: one client per pooled transport, since a client
/// serves one request at a time.
extension HTTPClient: AgentTransport {
    public func exchange(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8])
        throws -> AgentTransportReply
    {
        let response = try send(method: method, path: path, headers: headers, body: body)
        return AgentTransportReply(
            status: response.status, retryAfter: response.header("Retry-After"), body: response.body)
    }
}

extension AgentConnection {
    /// Connects over HTTP to `url` (`http://host:port`). Requests give up after `timeoutSeconds`
    /// without an answer, which must exceed the longest claim poll (30 s).
    public convenience init(
        url: String, key: String?, providerName: String, clientId: String, timeoutSeconds: Double = 90
    ) throws(AssayError) {
        let probe: HTTPClient
        do {
            probe = try HTTPClient(url: url)
        } catch {
            throw AssayError.badRequest("The server URL is not usable: \(error). Give it as http://host:port.")
        }
        let host = probe.host
        let port = probe.port
        self.init(
            providerName: providerName, clientId: clientId, key: key, serverDescription: url,
            makeTransport: { HTTPClient(host: host, port: port, timeoutSeconds: timeoutSeconds) })
    }
}

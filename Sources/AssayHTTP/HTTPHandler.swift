// The application side of the server: one method, called once per request with the complete body.
// Answering through a responder rather than a return value lets a handler park a request (a long poll) without
// holding a server thread.

public protocol HTTPHandler: Sendable {
    /// Called on a server thread when the whole body has arrived. The handler may respond before returning or keep
    /// the responder and respond later from any thread; a waiting request holds no server thread. Handlers must not
    /// block for long: the server has only a few threads. A request that is never answered stays open until the
    /// server stops (which answers it with 503).
    func handle(_ request: HTTPRequest, responder: HTTPResponder)
}

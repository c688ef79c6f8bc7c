// The answer channel of one request. The first respond() wins and later ones are ignored, so a handler racing a
// timeout against a result needs no coordination of its own.
//
// Without a lock on the common path: a handler that answers before returning only stores the response and flips
// an atomic phase; the server thread then queues it. Only a request that outlives its handler call is parked
// (libmicrohttpd-suspended) and resumed, and those transitions go through the server's parked-request registry
// under its mutex, which guarantees that resume never precedes suspend and that stop() can answer every parked
// request before the daemon goes away.

import CMicroHTTPD
import Synchronization

public final class HTTPResponder: @unchecked Sendable {
    // Phases of the request, advanced only by compare-and-swap:
    //   handling → answered (respond() while the handler call is still running; the server thread queues it)
    //   handling → parked   (the handler returned without answering; the connection is suspended)
    //   parked   → resumed  (respond() or stop() resumed it; the server thread queues the response)
    //   parked   → finished (libmicrohttpd dropped the connection while parked; nothing may touch it any more)
    static let handling = 0
    static let answered = 1
    static let parked = 2
    static let resumed = 3
    static let finished = 4

    let phase = Atomic<Int>(HTTPResponder.handling)
    let slot = AtomicLazyReference<ResponseBox>()
    // The libmicrohttpd connection: valid until the completion callback, touched only while parked.
    let connection: OpaquePointer?
    let core: ServerCore?
    let callback: (@Sendable (HTTPResponse) -> Void)?

    init(connection: OpaquePointer, core: ServerCore) {
        self.connection = connection
        self.core = core
        self.callback = nil
    }

    /// A responder not tied to a server, which hands the (first) response to `callback`: for testing handlers
    /// without a socket.
    public init(_ callback: @escaping @Sendable (HTTPResponse) -> Void) {
        self.connection = nil
        self.core = nil
        self.callback = callback
    }

    /// Answers the request; safe from any thread, at any time. A second call, or a call after the client went away
    /// or the server stopped, is ignored.
    public func respond(_ response: HTTPResponse) {
        let box = ResponseBox(response)
        guard slot.storeIfNil(box) === box else { return }
        if let callback {
            callback(response)
            return
        }
        let (exchanged, _) = phase.compareExchange(
            expected: HTTPResponder.handling, desired: HTTPResponder.answered, ordering: .acquiringAndReleasing)
        if !exchanged {
            core?.resume(self)
        }
    }

    /// Whether some response has been given (by respond() or by the server).
    public var hasResponded: Bool { slot.load() != nil }

    var response: HTTPResponse? { slot.load()?.response }
}

final class ResponseBox: Sendable {
    let response: HTTPResponse

    init(_ response: HTTPResponse) {
        self.response = response
    }
}

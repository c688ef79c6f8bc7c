// The part of HTTPServer that libmicrohttpd calls into: the access handler and completion callbacks (free C
// functions, handed the core as `cls`), body accumulation, and the registry of parked requests.
//
// Per request, libmicrohttpd calls the access handler first with headers only, then once per body chunk, then with
// an empty chunk to ask for the response, and again after a resume. Per-request state lives in `con_cls` from the
// first call until the completion callback releases it, which libmicrohttpd calls whatever happened (client gone,
// timeout, daemon stop), so nothing leaks.

import CMicroHTTPD
import Glibc
import Synchronization

final class ServerCore: Sendable {
    let handler: any HTTPHandler
    let maxBodyBytes: Int
    let payloadTooLarge: @Sendable (Int) -> HTTPResponse
    private let registry = Mutex(Registry())
    /// Requests between their first callback and their completion callback; tests use it to prove nothing leaks.
    let openRequests = Atomic<Int>(0)

    private struct Registry {
        var stopping = false
        var parked: [ObjectIdentifier: HTTPResponder] = [:]
    }

    init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.handler = handler
        self.maxBodyBytes = configuration.maxBodyBytes
        self.payloadTooLarge = configuration.payloadTooLarge
    }

    /// Runs after the handler returned: queues the response if there is one, else suspends the connection.
    /// Called on the connection's server thread.
    func finish(_ responder: HTTPResponder, connection: OpaquePointer) -> MHD_Result {
        if responder.phase.load(ordering: .acquiring) == HTTPResponder.answered, let response = responder.response {
            return queue(response, on: connection)
        }
        let parked = registry.withLock { registry -> Bool in
            guard !registry.stopping else { return false }
            let (exchanged, _) = responder.phase.compareExchange(
                expected: HTTPResponder.handling, desired: HTTPResponder.parked, ordering: .acquiringAndReleasing)
            guard exchanged else { return false }
            // Under the lock, so a concurrent respond() cannot resume before this suspend.
            MHD_suspend_connection(connection)
            registry.parked[ObjectIdentifier(responder)] = responder
            return true
        }
        if parked {
            return .YES
        }
        // Either answered meanwhile, or the server is stopping and parking would outlive the daemon.
        responder.respond(HTTPResponse(status: 503))
        while responder.phase.load(ordering: .acquiring) != HTTPResponder.answered {
            // Another thread won respond() and is a few instructions from publishing its answer.
            sched_yield()
        }
        return queue(responder.response ?? HTTPResponse(status: 503), on: connection)
    }

    /// Called by respond() when the request is parked (or already past it).
    func resume(_ responder: HTTPResponder) {
        registry.withLock { registry in
            let (exchanged, _) = responder.phase.compareExchange(
                expected: HTTPResponder.parked, desired: HTTPResponder.resumed, ordering: .acquiringAndReleasing)
            guard exchanged, let connection = responder.connection else { return }
            registry.parked[ObjectIdentifier(responder)] = nil
            MHD_resume_connection(connection)
        }
    }

    /// The connection ended; if it was still parked (only possible while the daemon shuts down), nobody may resume
    /// it any more.
    func completed(_ responder: HTTPResponder) {
        guard responder.phase.load(ordering: .acquiring) == HTTPResponder.parked else { return }
        registry.withLock { registry in
            let (exchanged, _) = responder.phase.compareExchange(
                expected: HTTPResponder.parked, desired: HTTPResponder.finished, ordering: .acquiringAndReleasing)
            if exchanged {
                registry.parked[ObjectIdentifier(responder)] = nil
            }
        }
    }

    /// Answers every parked request with 503 and waits until all are resumed: libmicrohttpd aborts when stopped
    /// with suspended connections. Afterwards nothing parks any more.
    func drain() {
        let pending = registry.withLock { registry in
            registry.stopping = true
            return Array(registry.parked.values)
        }
        for responder in pending {
            responder.respond(HTTPResponse(status: 503))
        }
        // A respond() that won the race against ours may still be on its way to resume().
        while !registry.withLock({ $0.parked.isEmpty }) {
            usleep(1000)
        }
    }
}

/// Per-request state behind libmicrohttpd's `con_cls`.
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
    var answeredEarly = false
    var responder: HTTPResponder?
}

func queue(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
    let mhdResponse = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let mhdResponse else { return .NO }
    for header in response.headers {
        // A header libmicrohttpd refuses (Content-Length, CR/LF in a value) is dropped rather than failing the request.
        _ = MHD_add_response_header(mhdResponse, header.name, header.value)
    }
    let status = (100...999).contains(response.status) ? UInt32(response.status) : 500
    let result = MHD_queue_response(connection, status, mhdResponse)
    MHD_destroy_response(mhdResponse)
    return result
}

func mhdAccessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?, _ uploadData: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?, _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let uploadDataSize, let conCls else { return .NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()

    guard let stateRaw = conCls.pointee else {
        // First call: headers only. A declared length over the limit is refused before reading any of it.
        let state = RequestState()
        conCls.pointee = Unmanaged.passRetained(state).toOpaque()
        core.openRequests.add(1, ordering: .relaxed)
        if let declared = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length"),
            let length = parseDecimal(declared)
        {
            if length > core.maxBodyBytes {
                state.answeredEarly = true
                return queue(core.payloadTooLarge(core.maxBodyBytes), on: connection)
            }
            // Capped: a client may declare much more than it sends.
            state.body.reserveCapacity(min(length, 1 << 20))
        }
        return .YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(stateRaw).takeUnretainedValue()

    let chunk = uploadDataSize.pointee
    if chunk != 0 {
        if !state.tooLarge && !state.answeredEarly {
            if state.body.count + chunk > core.maxBodyBytes {
                // Keep reading (and dropping) the rest so the 413 can go out on a healthy connection.
                state.tooLarge = true
                state.body = []
            } else {
                state.body.append(contentsOf: UnsafeRawBufferPointer(start: uploadData, count: chunk))
            }
        }
        uploadDataSize.pointee = 0
        return .YES
    }

    if state.answeredEarly {
        return .YES
    }
    if let responder = state.responder {
        // Called again after a resume.
        guard let response = responder.response else { return .NO }
        return queue(response, on: connection)
    }
    if state.tooLarge {
        state.answeredEarly = true
        return queue(core.payloadTooLarge(core.maxBodyBytes), on: connection)
    }

    let request = HTTPRequest(
        method: method.map { String(cString: $0) } ?? "GET",
        path: url.map { String(cString: $0) } ?? "/",
        query: collectQuery(connection),
        lowercasedHeaders: collectHeaders(connection),
        body: state.body)
    state.body = []
    let responder = HTTPResponder(connection: connection, core: core)
    state.responder = responder
    core.handler.handle(request, responder: responder)
    return core.finish(responder, connection: connection)
}

func mhdRequestCompleted(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ reason: MHD_RequestTerminationCode
) {
    guard let cls, let conCls, let stateRaw = conCls.pointee else { return }
    conCls.pointee = nil
    let state = Unmanaged<RequestState>.fromOpaque(stateRaw).takeRetainedValue()
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    core.openRequests.subtract(1, ordering: .relaxed)
    if let responder = state.responder {
        core.completed(responder)
    }
}

private func collectHeaders(_ connection: OpaquePointer) -> [(name: String, value: String)] {
    var headers: [(name: String, value: String)] = []
    headers.reserveCapacity(8)
    _ = withUnsafeMutablePointer(to: &headers) { pointer in
        MHD_get_connection_values_n(
            connection, .HEADER_KIND,
            { cls, _, key, keySize, value, valueSize in
                guard let cls, let key else { return .YES }
                let headers = cls.assumingMemoryBound(to: [(name: String, value: String)].self)
                headers.pointee.append((name: lowercasedString(key, keySize), value: decodedString(value, valueSize)))
                return .YES
            }, pointer)
    }
    return headers
}

private func collectQuery(_ connection: OpaquePointer) -> [String: String] {
    var query: [String: String] = [:]
    _ = withUnsafeMutablePointer(to: &query) { pointer in
        MHD_get_connection_values_n(
            connection, .GET_ARGUMENT_KIND,
            { cls, _, key, keySize, value, valueSize in
                guard let cls, let key else { return .YES }
                let query = cls.assumingMemoryBound(to: [String: String].self)
                query.pointee[decodedString(key, keySize)] = decodedString(value, valueSize)
                return .YES
            }, pointer)
    }
    return query
}

private func decodedString(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String {
    guard let pointer, count > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
}

private func lowercasedString(_ pointer: UnsafePointer<CChar>, _ count: Int) -> String {
    let bytes = UnsafeRawBufferPointer(start: pointer, count: count)
    guard bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else {
        return String(decoding: bytes, as: UTF8.self)
    }
    return String(unsafeUninitializedCapacity: count) { buffer in
        for index in 0..<count {
            let byte = bytes[index]
            buffer[index] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
        }
        return count
    }
}

/// A plain non-negative decimal, or nil (libmicrohttpd itself rejects malformed Content-Length values).
private func parseDecimal(_ text: UnsafePointer<CChar>) -> Int? {
    var value = 0
    var pointer = text
    guard pointer.pointee != 0 else { return nil }
    while pointer.pointee != 0 {
        let digit = Int(pointer.pointee) - 48
        guard digit >= 0 && digit <= 9 else { return nil }
        let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times.addingReportingOverflow(digit)
        if overflow1 || overflow2 { return Int.max }
        value = sum
        pointer += 1
    }
    return value
}

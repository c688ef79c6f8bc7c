// Shared fixtures for the HTTP tests: a routing test handler that records requests and holds deferred responders,
// a raw socket for sending what HTTPClient never would, and a one-shot fake server for replies libmicrohttpd never
// produces (chunked).

import Foundation
import Glibc
import Synchronization
import Testing

@testable import AssayHTTP

/// Records the last request. Routes: /fast answers at once; /echo answers with the request body; /defer keeps the
/// responder for the test to answer; /later answers from another thread while the handler is still running or
/// just after; /close answers with Connection: close.
final class TestHandler: HTTPHandler {
    let lastRequest = Mutex<HTTPRequest?>(nil)
    let held = Mutex<[(request: HTTPRequest, responder: HTTPResponder)]>([])

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        lastRequest.withLock { $0 = request }
        switch request.path {
        case "/defer":
            held.withLock { $0.append((request, responder)) }
        case "/later":
            let delay = UInt32.random(in: 0...200)
            Thread.detachNewThread {
                usleep(delay)
                responder.respond(HTTPResponse(status: 200, body: Array("later".utf8)))
            }
            usleep(UInt32.random(in: 0...200))
        case "/twice":
            responder.respond(HTTPResponse(status: 201, body: Array("first".utf8)))
            responder.respond(HTTPResponse(status: 500, body: Array("second".utf8)))
        case "/close":
            responder.respond(HTTPResponse(status: 200, headers: [("Connection", "close")], body: Array("bye".utf8)))
        case "/echo":
            responder.respond(
                HTTPResponse(
                    status: 200,
                    headers: [("X-Method", request.method), ("X-Path", request.path), ("Content-Type", "text/plain")],
                    body: request.body))
        default:
            responder.respond(HTTPResponse.json(200, Array("{\"ok\":true}".utf8)))
        }
    }

    var heldCount: Int { held.withLock { $0.count } }

    func takeHeld() -> [(request: HTTPRequest, responder: HTTPResponder)] {
        held.withLock { held in
            defer { held.removeAll() }
            return held
        }
    }
}

func withServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (HTTPServer, TestHandler) throws -> Void
) throws {
    var configuration = HTTPServerConfiguration()
    configuration.port = 0
    configure(&configuration)
    let handler = TestHandler()
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.stop() }
    try body(server, handler)
}

/// Polls until `condition` holds or `seconds` pass.
func waitUntil(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(2000)
    }
    return condition()
}

func assertHealthy(_ port: UInt16, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let client = HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 5)
    let response = try client.send(method: "GET", path: "/fast")
    #expect(response.status == 200, sourceLocation: sourceLocation)
    #expect(String(decoding: response.body, as: UTF8.self) == "{\"ok\":true}", sourceLocation: sourceLocation)
}

/// A plain TCP connection for writing arbitrary bytes and reading whatever comes back.
final class RawConnection {
    let fd: Int32
    private var pending: [UInt8] = []

    init(port: UInt16, timeoutSeconds: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw HTTPError("raw connect failed: \(errno)")
        }
    }

    deinit {
        close(fd)
    }

    @discardableResult
    func write(_ text: String) -> Bool {
        write(Array(text.utf8))
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Everything until the server closes (or the read timeout passes).
    func readToEnd() -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
        }
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// One Content-Length-delimited response: status and body, or nil when the connection ended first.
    func readResponse() -> (status: Int, head: String, body: String)? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let range = pending.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) {
                let head = String(decoding: pending[..<range.lowerBound], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
                var length = 0
                for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                if pending.count - range.upperBound >= length {
                    let body = String(decoding: pending[range.upperBound..<(range.upperBound + length)], as: UTF8.self)
                    pending.removeFirst(range.upperBound + length)
                    return (status, head, body)
                }
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return nil }
            pending.append(contentsOf: buffer[0..<count])
        }
    }
}

/// Accepts connections on an ephemeral port and answers each request with the next canned reply, in order.
/// A reply may close the connection after it is sent.
final class FakeServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let replies: [(bytes: [UInt8], closeAfter: Bool)]
    let accepted = Mutex(0)

    init(replies: [(String, closeAfter: Bool)]) throws {
        self.replies = replies.map { (Array($0.0.utf8), $0.closeAfter) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length)
                listen(fd, 16)
                return getsockname(fd, $0, &length)
            }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { self.serve() }
    }

    func shutdown() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        var next = 0
        while next < replies.count {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            accepted.withLock { $0 += 1 }
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while next < replies.count {
                // Requests here carry no body; the head ends the request.
                while request.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) == nil {
                    let count = recv(connection, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    request.append(contentsOf: buffer[0..<count])
                }
                guard let end = request.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) else { break }
                request.removeFirst(end.upperBound)
                let reply = replies[next]
                next += 1
                _ = reply.bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if reply.closeAfter { break }
            }
            close(connection)
        }
    }
}

// What a hostile or broken client can send: the server must refuse or drop it and keep serving others.

import Foundation
import Glibc
import Testing

@testable import AssayHTTP

@Suite(.serialized)
struct HostileInputTests {
    @Test func garbageRequestLine() throws {
        try withServer { server, _ in
            let raw = try RawConnection(port: server.port)
            raw.write("\u{1}\u{2}GARBAGE \u{7f}\r\n\r\n")
            let reply = raw.readToEnd()
            #expect(reply.isEmpty || reply.hasPrefix("HTTP/1.1 4"))
            try assertHealthy(server.port)
        }
    }

    @Test func hugeHeader() throws {
        try withServer { server, _ in
            let raw = try RawConnection(port: server.port)
            raw.write("GET /fast HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
            let reply = raw.readToEnd()
            #expect(reply.isEmpty || reply.hasPrefix("HTTP/1.1 4"))
            try assertHealthy(server.port)
        }
    }

    @Test(arguments: ["abc", "-5", "12abc", "99999999999999999999999"])
    func invalidContentLength(_ value: String) throws {
        try withServer { server, _ in
            let raw = try RawConnection(port: server.port)
            raw.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(value)\r\n\r\nhello")
            let reply = raw.readToEnd()
            #expect(reply.isEmpty || reply.hasPrefix("HTTP/1.1 4"))
            try assertHealthy(server.port)
        }
    }

    @Test func disconnectMidBody() throws {
        // libmicrohttpd may miss a FIN that arrives with the last bytes; the idle timeout reclaims those.
        try withServer({ $0.connectionTimeoutSeconds = 1 }) { server, handler in
            for _ in 0..<20 {
                let raw = try RawConnection(port: server.port)
                raw.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
            }
            try assertHealthy(server.port)
            #expect(handler.lastRequest.withLock { $0?.path } == "/fast")
            #expect(waitUntil(seconds: 10) { server.openRequests == 0 })  // no truncated /echo reached the handler
        }
    }

    @Test func disconnectWhileParked() throws {
        try withServer { server, handler in
            do {
                let gone = try (0..<10).map { _ in
                    let raw = try RawConnection(port: server.port)
                    raw.write("GET /defer HTTP/1.1\r\nHost: x\r\n\r\n")
                    return raw
                }
                #expect(waitUntil { handler.heldCount == 10 })
                _ = gone  // closed here, while the requests are parked
            }
            usleep(50_000)
            #expect(server.openRequests == 10)
            for entry in handler.takeHeld() {
                entry.responder.respond(HTTPResponse(status: 200, body: Array("too late".utf8)))
            }
            try assertHealthy(server.port)
            // Every abandoned request reached its completion callback: nothing leaked.
            #expect(waitUntil { server.openRequests == 0 })

            // And some left parked with their clients gone when the server stops: stop() must still be clean.
            do {
                let gone = try (0..<5).map { _ in
                    let raw = try RawConnection(port: server.port)
                    raw.write("GET /defer HTTP/1.1\r\nHost: x\r\n\r\n")
                    return raw
                }
                #expect(waitUntil { handler.heldCount == 5 })
                _ = gone
            }
        }
    }

    @Test func slowlorisHeadIsNotServedUntilComplete() throws {
        try withServer { server, _ in
            let raw = try RawConnection(port: server.port, timeoutSeconds: 1)
            raw.write("GET /fast HTTP/1.1\r\nHo")
            try assertHealthy(server.port)
            raw.write("st: x\r\n\r\n")
            #expect(raw.readResponse()?.status == 200)
        }
    }
}

// The server end to end: a real libmicrohttpd daemon on an ephemeral loopback port, driven by the real client
// (and raw sockets where the client would not send such bytes).

import Foundation
import Glibc
import Synchronization
import Testing

@testable import AssayHTTP

@Suite(.serialized)
struct HTTPServerTests {
    @Test func getCarriesPathQueryHeadersAndCookies() throws {
        try withServer { server, handler in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let response = try client.send(
                method: "GET", path: "/echo?name=J%C3%BCrgen&flag&plus=a+b&enc=x%26y",
                headers: [("X-Custom", "Value One"), ("Cookie", "session=abc123; theme=\"dark\"")])
            #expect(response.status == 200)
            #expect(response.header("x-method") == "GET")
            #expect(response.header("X-PATH") == "/echo")
            #expect(response.header("content-type") == "text/plain")
            #expect(response.body.isEmpty)
            let request = try #require(handler.lastRequest.withLock { $0 })
            #expect(request.method == "GET")
            #expect(request.path == "/echo")
            #expect(request.query == ["name": "Jürgen", "flag": "", "plus": "a b", "enc": "x&y"])
            #expect(request.header("x-custom") == "Value One")
            #expect(request.header("X-CUSTOM") == "Value One")
            #expect(request.headers.contains { $0.name == "x-custom" })
            #expect(request.headers.allSatisfy { $0.name == $0.name.lowercased() })
            #expect(request.cookies == ["session": "abc123", "theme": "dark"])
            #expect(request.body.isEmpty)
        }
    }

    @Test func postCarriesBinaryBodyAndPercentDecodedPath() throws {
        try withServer { server, handler in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let body = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let response = try client.send(
                method: "POST", path: "/echo", headers: [("Content-Type", "application/octet-stream")], body: body)
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(handler.lastRequest.withLock { $0?.method } == "POST")
            #expect(handler.lastRequest.withLock { $0?.header("content-type") } == "application/octet-stream")

            let big = [UInt8](repeating: 0x61, count: 300_000)
            #expect(try client.send(method: "PUT", path: "/echo", body: big).body == big)

            _ = try client.send(method: "GET", path: "/a%20b/%C3%A9t%C3%A9?q=%2F")
            #expect(handler.lastRequest.withLock { $0?.path } == "/a b/été")
            #expect(handler.lastRequest.withLock { $0?.query } == ["q": "/"])
        }
    }

    @Test func emptyBodiesAndJSONResponses() throws {
        try withServer { server, handler in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let post = try client.send(method: "POST", path: "/echo")
            #expect(post.status == 200)
            #expect(post.body.isEmpty)
            #expect(handler.lastRequest.withLock { $0?.body.isEmpty } == true)
            #expect(handler.lastRequest.withLock { $0?.header("content-length") } == "0")
            let json = try client.send(method: "GET", path: "/anything")
            #expect(json.header("Content-Type") == "application/json")
            #expect(json.header("content-length") == "11")
        }
    }

    @Test func keepAliveReusesOneConnection() throws {
        try withServer { server, _ in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            for index in 0..<50 {
                let response = try client.send(method: "POST", path: "/echo", body: Array("n\(index)".utf8))
                #expect(String(decoding: response.body, as: UTF8.self) == "n\(index)")
            }
            #expect(client.connectionsOpened == 1)
        }
    }

    @Test func chunkedRequestBodyIsReassembled() throws {
        try withServer { server, handler in
            let raw = try RawConnection(port: server.port)
            raw.write(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
            let response = try #require(raw.readResponse())
            #expect(response.status == 200)
            #expect(response.body == "hello world")
            #expect(handler.lastRequest.withLock { $0?.body } == Array("hello world".utf8))
            // Same connection, next request.
            raw.write("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(raw.readResponse()?.status == 200)
        }
    }

    @Test func respondingTwiceKeepsTheFirstAnswer() throws {
        try withServer { server, _ in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let response = try client.send(method: "GET", path: "/twice")
            #expect(response.status == 201)
            #expect(String(decoding: response.body, as: UTF8.self) == "first")
        }
    }

    @Test func deferredResponsesDoNotHoldServerThreads() throws {
        try withServer({ $0.threads = 2 }) { server, handler in
            let waiting = try (0..<300).map { index -> RawConnection in
                let raw = try RawConnection(port: server.port, timeoutSeconds: 10)
                raw.write("GET /defer?i=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
                return raw
            }
            #expect(waitUntil { handler.heldCount == 300 })

            let started = Date()
            try assertHealthy(server.port)
            #expect(Date().timeIntervalSince(started) < 1.0)

            let held = handler.takeHeld()
            Thread.detachNewThread {
                for entry in held {
                    let index = entry.request.query["i"] ?? "?"
                    entry.responder.respond(HTTPResponse(status: 200, body: Array("answer \(index)".utf8)))
                }
            }
            for (index, raw) in waiting.enumerated() {
                let response = raw.readResponse()
                #expect(response?.status == 200)
                #expect(response?.body == "answer \(index)")
            }
            try assertHealthy(server.port)
        }
    }

    @Test func answersFromOtherThreadsRaceSafely() throws {
        try withServer { server, _ in
            let failures = Mutex(0)
            let done = DispatchGroup()
            for _ in 0..<8 {
                done.enter()
                Thread.detachNewThread {
                    let client = HTTPClient(host: "127.0.0.1", port: server.port, timeoutSeconds: 10)
                    for _ in 0..<250 {
                        let response = try? client.send(method: "POST", path: "/later", body: [1, 2, 3])
                        if response?.status != 200 || response?.body != Array("later".utf8) {
                            failures.withLock { $0 += 1 }
                        }
                    }
                    done.leave()
                }
            }
            #expect(done.wait(timeout: .now() + 60) == .success)
            #expect(failures.withLock { $0 } == 0)
        }
    }

    @Test func oversizedBodiesGetTheConfiguredAnswer() throws {
        try withServer({
            $0.maxBodyBytes = 1024
            $0.payloadTooLarge = { limit in HTTPResponse.json(413, Array("{\"limit\":\(limit)}".utf8)) }
        }) { server, _ in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let exact = try client.send(method: "POST", path: "/echo", body: [UInt8](repeating: 1, count: 1024))
            #expect(exact.status == 200)
            #expect(exact.body.count == 1024)

            let declared = try client.send(method: "POST", path: "/echo", body: [UInt8](repeating: 1, count: 2048))
            #expect(declared.status == 413)
            #expect(String(decoding: declared.body, as: UTF8.self) == "{\"limit\":1024}")
            #expect(declared.header("content-type") == "application/json")

            // Far over the limit: the server answers before the upload ends and the client still reads it.
            let huge = try client.send(method: "POST", path: "/echo", body: [UInt8](repeating: 1, count: 8 << 20))
            #expect(huge.status == 413)
            #expect(String(decoding: huge.body, as: UTF8.self) == "{\"limit\":1024}")

            // Chunked: no length up front, so the limit is found while reading.
            let raw = try RawConnection(port: server.port)
            let chunk = String(repeating: "z", count: 512)
            raw.write("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<4 {
                raw.write("200\r\n\(chunk)\r\n")
            }
            raw.write("0\r\n\r\n")
            let response = try #require(raw.readResponse())
            #expect(response.status == 413)
            #expect(response.body == "{\"limit\":1024}")

            try assertHealthy(server.port)
            #expect(try client.send(method: "POST", path: "/echo", body: [7]).body == [7])
        }
    }

    @Test func stopAnswersParkedRequests() throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let handler = TestHandler()
        let server = HTTPServer(configuration: configuration, handler: handler)
        try server.start()
        let waiting = try (0..<20).map { _ in
            let raw = try RawConnection(port: server.port)
            raw.write("GET /defer HTTP/1.1\r\nHost: x\r\n\r\n")
            return raw
        }
        #expect(waitUntil { handler.heldCount == 20 })
        server.stop()
        for raw in waiting {
            // Answered 503 or closed: either way not left hanging, and no abort inside libmicrohttpd.
            #expect(raw.readResponse()?.status ?? 503 == 503)
        }
        // Late answers after stop are ignored.
        for entry in handler.takeHeld() {
            entry.responder.respond(HTTPResponse(status: 200))
        }
        // The server can be started again.
        try server.start()
        try assertHealthy(server.port)
        server.stop()
    }

    @Test func startReportsBusyPortAndBadHost() throws {
        try withServer { server, _ in
            var configuration = HTTPServerConfiguration()
            configuration.port = server.port
            let second = HTTPServer(configuration: configuration, handler: TestHandler())
            let error = #expect(throws: HTTPError.self) { try second.start() }
            #expect(error?.message == "cannot listen on 127.0.0.1:\(server.port): address in use")
        }
        var configuration = HTTPServerConfiguration()
        configuration.host = "example.invalid"
        let error = #expect(throws: HTTPError.self) {
            try HTTPServer(configuration: configuration, handler: TestHandler()).start()
        }
        #expect(error?.description.contains("not an IPv4 address") == true)
    }

    @Test func localhostAndAnyAddressBind() throws {
        for host in ["localhost", "0.0.0.0"] {
            try withServer({ $0.host = host }) { server, _ in
                #expect(server.port != 0)
                try assertHealthy(server.port)
            }
        }
    }

    @Test func responderWithoutServerCallsBack() {
        let received = Mutex<[Int]>([])
        let responder = HTTPResponder { response in received.withLock { $0.append(response.status) } }
        #expect(!responder.hasResponded)
        responder.respond(HTTPResponse(status: 204))
        responder.respond(HTTPResponse(status: 500))
        #expect(responder.hasResponded)
        #expect(received.withLock { $0 } == [204])
    }
}

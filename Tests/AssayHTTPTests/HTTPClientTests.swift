// The client against replies it must cope with: connections the server closed, chunked and close-delimited
// bodies, unusable URLs.

import Foundation
import Glibc
import Testing

@testable import AssayHTTP

@Suite(.serialized)
struct HTTPClientTests {
    @Test func reconnectsAfterServerClosedTheConnection() throws {
        try withServer { server, _ in
            let client = HTTPClient(host: "127.0.0.1", port: server.port)
            let closing = try client.send(method: "POST", path: "/close", body: [1])
            #expect(closing.status == 200)
            #expect(closing.header("connection") == "close")
            let next = try client.send(method: "POST", path: "/echo", body: [2])
            #expect(next.body == [2])
            #expect(client.connectionsOpened == 2)
        }
    }

    @Test func reconnectsAfterServerRestart() throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, handler: TestHandler())
        try server.start()
        let port = server.port
        let client = HTTPClient(host: "127.0.0.1", port: port)
        #expect(try client.send(method: "POST", path: "/echo", body: [1]).body == [1])
        server.stop()

        configuration.port = port
        let again = HTTPServer(configuration: configuration, handler: TestHandler())
        try again.start()
        defer { again.stop() }
        // The kept-alive connection is dead; the POST must go out once, on a new connection.
        #expect(try client.send(method: "POST", path: "/echo", body: [2]).body == [2])
        #expect(client.connectionsOpened == 2)
    }

    @Test func parsesChunkedAndCloseDelimitedReplies() throws {
        let fake = try FakeServer(replies: [
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                    + "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: t\r\n\r\n",
                closeAfter: false
            ),
            ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", closeAfter: false),
            ("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", closeAfter: true),
            ("HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", closeAfter: false),
        ])
        defer { fake.shutdown() }
        let client = HTTPClient(host: "127.0.0.1", port: fake.port, timeoutSeconds: 5)
        let chunked = try client.send(method: "GET", path: "/")
        #expect(chunked.status == 200)
        #expect(String(decoding: chunked.body, as: UTF8.self) == "Wikipedia in\r\n\r\nchunks.")
        #expect(chunked.header("x-a") == "1")
        let noContent = try client.send(method: "GET", path: "/")
        #expect(noContent.status == 204)
        #expect(noContent.body.isEmpty)
        let closeDelimited = try client.send(method: "GET", path: "/")
        #expect(String(decoding: closeDelimited.body, as: UTF8.self) == "until the end")
        let afterClose = try client.send(method: "GET", path: "/")
        #expect(afterClose.status == 201)
        #expect(afterClose.body == Array("ok".utf8))
        #expect(client.connectionsOpened == 2)
    }

    @Test func postIsNotRetriedOnceSent() throws {
        // The server reads the request and closes without answering: a POST must fail, not be sent twice.
        let fake = try FakeServer(replies: [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", closeAfter: false),
            ("", closeAfter: true),
        ])
        defer { fake.shutdown() }
        let client = HTTPClient(host: "127.0.0.1", port: fake.port, timeoutSeconds: 5)
        #expect(try client.send(method: "POST", path: "/").status == 200)
        #expect(throws: HTTPError.self) { try client.send(method: "POST", path: "/") }
        #expect(fake.accepted.withLock { $0 } == 1)
    }

    @Test func urlParsing() throws {
        let client = try HTTPClient(url: "http://127.0.0.1:8080")
        #expect(client.host == "127.0.0.1")
        #expect(client.port == 8080)
        #expect(try HTTPClient(url: "http://localhost/").port == 80)
        #expect(throws: HTTPError.self) { try HTTPClient(url: "https://127.0.0.1:8080") }
        #expect(throws: HTTPError.self) { try HTTPClient(url: "http://127.0.0.1:notaport") }
        #expect(throws: HTTPError.self) { try HTTPClient(url: "127.0.0.1:8080") }
    }

    @Test func connectionRefusedIsAClearError() throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, handler: TestHandler())
        try server.start()
        let port = server.port
        server.stop()
        let error = #expect(throws: HTTPError.self) {
            try HTTPClient(host: "127.0.0.1", port: port).send(method: "GET", path: "/")
        }
        #expect(error?.message == "cannot connect to 127.0.0.1:\(port): connection refused")
    }
}

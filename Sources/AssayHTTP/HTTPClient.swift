// A small blocking HTTP/1.1 client over one keep-alive POSIX socket, for the CLI, the agent and the benchmark.
//
// Limits: http only, IPv4 only, no proxies, no redirects, no TLS; one request at a time (not thread-safe, use one
// client per thread). Request bodies are sent with Content-Length; replies may use Content-Length, chunked
// encoding or close-delimited bodies. A kept-alive connection the server has closed is detected before sending
// (a non-blocking peek), so the common stale-connection case never resends anything. After a failure on a reused
// connection one retry is made only when it cannot duplicate work: nothing of the response arrived and either the
// request is idempotent or the failure was on writing it.

import Glibc

public final class HTTPClient {
    public let host: String
    public let port: UInt16
    public let timeoutSeconds: Double

    private var socket: Int32 = -1
    /// Whether the open connection has already carried a request (so it may have gone stale).
    private var reused = false
    private var address: sockaddr_in?
    private var outgoing: [UInt8] = []
    private var inbox: [UInt8] = []
    private var inboxStart = 0
    private let chunk: UnsafeMutableRawBufferPointer
    /// Set when the first byte of the current response arrives; decides whether a retry is safe.
    private var responseStarted = false
    /// How many TCP connections this client has opened (tests check keep-alive reuse with it).
    private(set) var connectionsOpened = 0

    private static let chunkSize = 64 * 1024
    private static let maxHeadBytes = 1 << 20

    public init(host: String, port: UInt16, timeoutSeconds: Double = 660) {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
        self.chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: HTTPClient.chunkSize, alignment: 16)
        outgoing.reserveCapacity(1024)
        inbox.reserveCapacity(HTTPClient.chunkSize)
    }

    /// "http://host[:port][/]"; anything else (https, a path, a user) is an error.
    public convenience init(url: String) throws {
        guard url.hasPrefix("http://") else {
            throw HTTPError("unsupported URL \(url): only http://host:port is supported")
        }
        var rest = Substring(url.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        var port: UInt16 = 80
        if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let parsed = UInt16(rest[rest.index(after: colon)...]), parsed > 0 else {
                throw HTTPError("invalid port in URL \(url)")
            }
            port = parsed
        }
        guard !host.isEmpty, !host.contains(where: { "/@?#[]".contains($0) }) else {
            throw HTTPError("invalid URL \(url): expected http://host:port")
        }
        self.init(host: String(host), port: port)
    }

    deinit {
        close()
        chunk.deallocate()
    }

    public func close() {
        if socket >= 0 {
            Glibc.close(socket)
            socket = -1
        }
        reused = false
        inbox.removeAll(keepingCapacity: true)
        inboxStart = 0
    }

    public func send(
        method: String, path: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) throws -> HTTPClientResponse {
        encodeRequest(method: method, path: path, headers: headers, body: body)
        var retried = false
        while true {
            if socket >= 0 && reused && connectionIsStale() {
                close()
            }
            let wasReused = socket >= 0
            if socket < 0 {
                try connect()
            }
            responseStarted = false
            var failedOnWrite = false
            do {
                do {
                    try writeAll(body: body)
                } catch let failure as TransferFailure {
                    // A server may answer before the upload ends (413) and close; that answer is the result.
                    if let (early, _) = try? readResponse(method: method) {
                        close()
                        return early
                    }
                    failedOnWrite = true
                    throw failure
                }
                let (response, keepAlive) = try readResponse(method: method)
                reused = true
                if !keepAlive {
                    close()
                }
                return response
            } catch let failure as TransferFailure {
                close()
                let retry =
                    !retried && wasReused && !responseStarted
                    && (failedOnWrite || Self.isIdempotent(method))
                guard retry else {
                    throw HTTPError("\(method) http://\(host):\(port)\(path) failed: \(failure.reason)")
                }
                retried = true
            }
        }
    }

    // MARK: - Connection

    private struct TransferFailure: Error {
        let reason: String
    }

    private static func isIdempotent(_ method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE": return true
        default: return false
        }
    }

    private func connect() throws {
        let endpoint = "\(host):\(port)"
        if address == nil {
            address = try Self.resolve(host: host, port: port, endpoint: endpoint)
        }
        var address = self.address!
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw HTTPError("cannot connect to \(endpoint): \(errnoDescription(errno))")
        }
        var on: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(
            tv_sec: Int(timeoutSeconds),
            tv_usec: Int((timeoutSeconds - timeoutSeconds.rounded(.down)) * 1_000_000))
        // Bounds connect() as well as every send/recv.
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            Glibc.close(fd)
            let reason = error == EINPROGRESS ? "timed out" : errnoDescription(error)
            throw HTTPError("cannot connect to \(endpoint): \(reason)")
        }
        socket = fd
        connectionsOpened += 1
        reused = false
        inbox.removeAll(keepingCapacity: true)
        inboxStart = 0
    }

    private static func resolve(host: String, port: UInt16, endpoint: String) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let numeric = host == "localhost" ? "127.0.0.1" : host
        if inet_pton(AF_INET, numeric, &address.sin_addr) == 1 {
            return address
        }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        defer { if list != nil { freeaddrinfo(list) } }
        guard status == 0, let first = list, let found = first.pointee.ai_addr else {
            throw HTTPError("cannot connect to \(endpoint): unknown host")
        }
        found.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address.sin_addr = $0.pointee.sin_addr }
        return address
    }

    /// True when the server closed the idle connection (or sent something unasked, e.g. a 408 before closing).
    private func connectionIsStale() -> Bool {
        if inboxStart < inbox.count {
            return true
        }
        var byte: UInt8 = 0
        let peeked = recv(socket, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        return !(peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    }

    // MARK: - Writing

    private func encodeRequest(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8]) {
        outgoing.removeAll(keepingCapacity: true)
        outgoing.append(contentsOf: method.utf8)
        outgoing.append(0x20)
        outgoing.append(contentsOf: (path.isEmpty ? "/" : path).utf8)
        outgoing.append(contentsOf: " HTTP/1.1\r\n".utf8)
        var hasHost = false
        var hasLength = false
        for header in headers {
            let name = asciiLowercased(header.name)
            if name == "host" { hasHost = true }
            if name == "content-length" || name == "transfer-encoding" { hasLength = true }
            appendHeader(header.name, header.value)
        }
        if !hasHost {
            appendHeader("Host", port == 80 ? host : "\(host):\(port)")
        }
        if !hasLength && (!body.isEmpty || !["GET", "HEAD", "DELETE", "OPTIONS"].contains(method)) {
            appendHeader("Content-Length", String(body.count))
        }
        outgoing.append(contentsOf: [0x0D, 0x0A])
        // Small bodies travel in the same segment as the head: one send() per request.
        if body.count <= 16 * 1024 {
            outgoing.append(contentsOf: body)
        }
    }

    private func appendHeader(_ name: String, _ value: String) {
        outgoing.append(contentsOf: name.utf8)
        outgoing.append(contentsOf: ": ".utf8)
        outgoing.append(contentsOf: value.utf8)
        outgoing.append(contentsOf: [0x0D, 0x0A])
    }

    private func writeAll(body: [UInt8]) throws {
        try outgoing.withUnsafeBytes { try write($0) }
        if body.count > 16 * 1024 {
            try body.withUnsafeBytes { try write($0) }
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = Glibc.send(socket, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if sent < 0 {
                if errno == EINTR { continue }
                throw TransferFailure(reason: errnoDescription(errno))
            }
            offset += sent
        }
    }

    // MARK: - Reading

    /// Reads more bytes into the inbox; false at end of stream.
    private func fill() throws -> Bool {
        if inboxStart == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            inboxStart = 0
        } else if inboxStart >= HTTPClient.chunkSize {
            inbox.removeFirst(inboxStart)
            inboxStart = 0
        }
        while true {
            let received = recv(socket, chunk.baseAddress, chunk.count, 0)
            if received > 0 {
                responseStarted = true
                inbox.append(contentsOf: UnsafeRawBufferPointer(start: chunk.baseAddress, count: received))
                return true
            }
            if received == 0 {
                return false
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw TransferFailure(reason: "no answer within \(timeoutSeconds) s")
            }
            throw TransferFailure(reason: errnoDescription(errno))
        }
    }

    private func readResponse(method: String) throws -> (HTTPClientResponse, keepAlive: Bool) {
        while true {
            let head = try readHead()
            if head.status >= 100 && head.status < 200 {
                continue  // interim (100 Continue): the real response follows
            }
            var keepAlive = head.http11
            var chunked = false
            var length: Int?
            for header in head.headers {
                switch header.name {
                case "connection":
                    let value = asciiLowercased(header.value)
                    if value.contains("close") { keepAlive = false }
                    if value.contains("keep-alive") { keepAlive = true }
                case "transfer-encoding":
                    chunked = asciiLowercased(header.value).contains("chunked")
                case "content-length":
                    guard let parsed = Int(header.value.trimmingASCIISpacesString()), parsed >= 0 else {
                        throw TransferFailure(reason: "invalid Content-Length \(header.value)")
                    }
                    length = parsed
                default:
                    break
                }
            }
            let body: [UInt8]
            if method == "HEAD" || head.status == 204 || head.status == 304 {
                body = []
            } else if chunked {
                body = try readChunkedBody()
            } else if let length {
                body = try readExactly(length)
            } else {
                body = try readToEnd()
                keepAlive = false
            }
            return (HTTPClientResponse(status: head.status, headers: head.headers, body: body), keepAlive)
        }
    }

    private struct Head {
        let status: Int
        let http11: Bool
        let headers: [(name: String, value: String)]
    }

    private func readHead() throws -> Head {
        var scanFrom = inboxStart
        var end: Int?
        while end == nil {
            if inbox.count >= 4 {
                var index = max(scanFrom, inboxStart + 3)
                while index < inbox.count {
                    if inbox[index] == 0x0A && inbox[index - 1] == 0x0D && inbox[index - 2] == 0x0A
                        && inbox[index - 3] == 0x0D
                    {
                        end = index + 1
                        break
                    }
                    index += 1
                }
                scanFrom = max(inboxStart, index - 3)
            }
            if end == nil {
                guard inbox.count - inboxStart < HTTPClient.maxHeadBytes else {
                    throw TransferFailure(reason: "response head larger than \(HTTPClient.maxHeadBytes) bytes")
                }
                let before = inboxStart
                guard try fill() else {
                    throw TransferFailure(reason: "connection closed by the server before a response")
                }
                // fill() may have compacted the inbox.
                scanFrom -= before - inboxStart
            }
        }
        let headEnd = end!
        let lines = inbox[inboxStart..<(headEnd - 4)].split(separator: 0x0A, omittingEmptySubsequences: false)
        inboxStart = headEnd
        guard let statusLine = lines.first else {
            throw TransferFailure(reason: "empty response head")
        }
        let statusText = String(decoding: statusLine, as: UTF8.self).trimmingASCIISpacesString()
        let parts = statusText.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TransferFailure(reason: "malformed status line \"\(statusText.prefix(80))\"")
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(lines.count - 1)
        for var line in lines.dropFirst() {
            if line.last == 0x0D { line = line.dropLast() }
            guard let colon = line.firstIndex(of: 0x3A) else { continue }
            let name = asciiLowercased(String(decoding: line[line.startIndex..<colon], as: UTF8.self))
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingASCIISpacesString()
            headers.append((name: name, value: value))
        }
        return Head(status: status, http11: parts[0] != "HTTP/1.0", headers: headers)
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while inbox.count - inboxStart < count {
            guard try fill() else {
                throw TransferFailure(reason: "connection closed by the server in the middle of a response body")
            }
        }
        let body = Array(inbox[inboxStart..<(inboxStart + count)])
        inboxStart += count
        return body
    }

    private func readLine() throws -> ArraySlice<UInt8> {
        var index = inboxStart
        while true {
            while index < inbox.count {
                if inbox[index] == 0x0A {
                    var line = inbox[inboxStart..<index]
                    if line.last == 0x0D { line = line.dropLast() }
                    inboxStart = index + 1
                    return line
                }
                index += 1
            }
            guard inbox.count - inboxStart < 64 * 1024 else {
                throw TransferFailure(reason: "malformed chunked response")
            }
            let before = inboxStart
            guard try fill() else {
                throw TransferFailure(reason: "connection closed by the server in the middle of a chunked body")
            }
            index -= before - inboxStart
        }
    }

    private func readChunkedBody() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = try readLine()
            var size = 0
            var digits = 0
            for byte in line {
                let digit: Int
                switch byte {
                case 0x30...0x39: digit = Int(byte) - 0x30
                case 0x41...0x46: digit = Int(byte) - 0x41 + 10
                case 0x61...0x66: digit = Int(byte) - 0x61 + 10
                default: digit = -1
                }
                if digit < 0 { break }  // chunk extensions or spaces follow
                guard size < (Int.max >> 4) else { throw TransferFailure(reason: "chunk size too large") }
                size = size * 16 + digit
                digits += 1
            }
            guard digits > 0 else { throw TransferFailure(reason: "malformed chunk size") }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers
                return body
            }
            body.append(contentsOf: try readExactly(size))
            guard try readLine().isEmpty else { throw TransferFailure(reason: "malformed chunk terminator") }
        }
    }

    private func readToEnd() throws -> [UInt8] {
        while try fill() {}
        let body = Array(inbox[inboxStart...])
        inboxStart = inbox.count
        return body
    }
}

extension String {
    func trimmingASCIISpacesString() -> String {
        let trimmed = Substring(self).trimmingASCIISpaces()
        return trimmed.count == count ? self : String(trimmed)
    }
}

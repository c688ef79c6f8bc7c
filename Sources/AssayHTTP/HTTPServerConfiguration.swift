// How an HTTPServer listens and what it tolerates. Defaults suit one machine: loopback, a thread per core, 64 MiB
// bodies, 10,000 connections, 300 s idle timeout.

import Glibc

public struct HTTPServerConfiguration: Sendable {
    /// An IPv4 address, "localhost" (127.0.0.1) or "0.0.0.0" (all interfaces).
    public var host: String = "127.0.0.1"
    /// 0 binds any free port; HTTPServer.port tells which.
    public var port: UInt16 = 8080
    public var maxBodyBytes: Int = 64 << 20
    /// libmicrohttpd's thread-pool size.
    public var threads: Int = HTTPServerConfiguration.onlineCores()
    public var connectionLimit: Int = 10_000
    /// Idle time after which a connection is closed; a request parked by its handler does not time out.
    public var connectionTimeoutSeconds: Int = 300
    /// The response sent when a body exceeds maxBodyBytes (status 413); the argument is the limit.
    public var payloadTooLarge: @Sendable (Int) -> HTTPResponse = { limit in
        HTTPResponse.json(413, Array("{\"error\":\"request body larger than \(limit) bytes\"}".utf8))
    }

    public init() {}

    static func onlineCores() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

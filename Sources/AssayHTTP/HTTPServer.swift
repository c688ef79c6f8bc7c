// An HTTP/1.1 server on libmicrohttpd: a pool of internal threads (epoll where available) serving keep-alive
// connections, with requests parked by their handler suspended rather than holding a thread.
//
// Known limit (libmicrohttpd 0.9.75, epoll): when a client's last body bytes and its FIN arrive together, the
// daemon may not notice the close; such a connection is reclaimed by connectionTimeoutSeconds, not at once.
//
// The listening socket is bound here rather than by libmicrohttpd so that a failure names its cause ("address in
// use"). IPv4 only. start() and stop() may be called from any thread; a stopped server can be started again.
// stop() answers every parked request with 503 first, because libmicrohttpd must not be stopped with suspended
// connections.

import CMicroHTTPD
import Glibc
import Synchronization

public final class HTTPServer: Sendable {
    private let configuration: HTTPServerConfiguration
    private let handler: any HTTPHandler
    private let running = Mutex<Running?>(nil)
    private let boundPort = Atomic<UInt16>(0)

    private struct Running: @unchecked Sendable {
        let daemon: OpaquePointer
        let core: Unmanaged<ServerCore>
    }

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    deinit {
        stop()
    }

    /// The bound port: the configured one, or the one the system chose for port 0. 0 before start().
    public var port: UInt16 { boundPort.load(ordering: .acquiring) }

    /// Requests received (at least their head) and not yet completed; 0 when stopped.
    var openRequests: Int {
        running.withLock { $0?.core.takeUnretainedValue().openRequests.load(ordering: .relaxed) } ?? 0
    }

    /// Binds and starts serving; throws HTTPError when the address cannot be used. Starting a running server does
    /// nothing.
    public func start() throws {
        try running.withLock { running in
            guard running == nil else { return }
            let endpoint = "\(configuration.host):\(configuration.port)"
            let (socket, port) = try Self.listen(host: configuration.host, port: configuration.port, endpoint: endpoint)
            let core = Unmanaged.passRetained(ServerCore(configuration: configuration, handler: handler))
            var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            // Not MHD_USE_TURBO: it skips the shutdown() calls behind graceful closes (an early 413 must still
            // reach a client that is busy uploading) for only ~10 % more throughput.
            if MHD_is_feature_supported(.FEATURE_EPOLL) == .YES {
                flags |= MHD_USE_EPOLL.rawValue
            } else {
                flags |= MHD_USE_POLL.rawValue
            }
            // A pool of one is no pool for libmicrohttpd: it wants 0 for "just the internal thread".
            let threads = configuration.threads > 1 ? UInt32(min(configuration.threads, 256)) : 0
            let daemon = assay_mhd_start_daemon(
                flags, socket, threads,
                UInt32(clamping: max(1, configuration.connectionLimit)),
                UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
                // Room for a large request head; 100 KB heads are still refused (431).
                64 * 1024,
                mhdAccessHandler, core.toOpaque(), mhdRequestCompleted, core.toOpaque())
            guard let daemon else {
                close(socket)
                core.release()
                throw HTTPError("cannot start the HTTP server on \(endpoint)")
            }
            running = Running(daemon: daemon, core: core)
            boundPort.store(port, ordering: .releasing)
        }
    }

    /// Answers parked requests with 503, closes every connection and the listening socket; returns when no server
    /// thread runs any more. Stopping a stopped server does nothing.
    public func stop() {
        guard
            let stopping = running.withLock({ running -> Running? in
                defer { running = nil }
                return running
            })
        else { return }
        stopping.core.takeUnretainedValue().drain()
        MHD_stop_daemon(stopping.daemon)  // also closes the listening socket
        stopping.core.release()
    }

    /// Binds and listens on an IPv4 address; returns the socket and the bound port.
    private static func listen(host: String, port: UInt16, endpoint: String) throws -> (Int32, UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let numericHost = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, numericHost, &address.sin_addr) == 1 else {
            throw HTTPError("cannot listen on \(endpoint): not an IPv4 address")
        }
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else {
            throw HTTPError("cannot listen on \(endpoint): \(errnoDescription(errno))")
        }
        var on: Int32 = 1
        _ = setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(socket, SOMAXCONN) == 0 else {
            let error = errno
            close(socket)
            throw HTTPError("cannot listen on \(endpoint): \(errnoDescription(error))")
        }
        // Every pool thread accepts on this socket; a blocking accept would stall the losers.
        _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return (socket, UInt16(bigEndian: actual.sin_port))
    }
}

/// errno as words a person expects in a one-line message.
func errnoDescription(_ code: Int32) -> String {
    switch code {
    case EADDRINUSE: return "address in use"
    case EADDRNOTAVAIL: return "address not available on this machine"
    case EACCES: return "permission denied"
    case ECONNREFUSED: return "connection refused"
    case ECONNRESET: return "connection reset by peer"
    case EPIPE: return "connection closed by peer"
    case ETIMEDOUT, EAGAIN: return "timed out"
    case EHOSTUNREACH: return "host unreachable"
    case ENETUNREACH: return "network unreachable"
    default: return String(cString: strerror(code)).lowercased()
    }
}

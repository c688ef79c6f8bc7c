import AssayAPI
import AssayEngine
import AssayHTTP
import AssayInfotable
import AssayProviders
import AssayStore
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// `assay serve`: opens the store, makes the first admin key, starts the engine and the HTTP server,
/// and stops them in order on SIGTERM or SIGINT.
enum ServeCommand {
    static let usage = """
        usage: assay serve [--data DIR] [--host H] [--port P] [--database URL] [--max-body-bytes N]
                           [--threads N] [--lease-seconds S] [--max-in-flight N]
                           [--log-level debug|info|warning|error]
        """

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(
            words,
            valued: [
                "data", "host", "port", "database", "max-body-bytes", "threads", "lease-seconds", "log-level",
                "max-in-flight",
            ],
            flags: ["help"])
        if args.flag("help") {
            print(usage)
            return 0
        }
        if let level = args.value("log-level") {
            switch level {
            case "debug": Log.level = .debug
            case "info": Log.level = .info
            case "warning": Log.level = .warning
            case "error": Log.level = .error
            default: throw CLIError("--log-level must be debug, info, warning or error")
            }
        }
        let dataDir = args.value("data") ?? "./assay-data"
        try makeDirectory(dataDir)
        // The PostgreSQL store takes the lease length too, so the lease settings come first.
        var configuration = EngineConfiguration()
        if let lease = try args.double("lease-seconds") {
            guard lease >= 1 else { throw CLIError("--lease-seconds must be at least 1") }
            configuration.leaseSeconds = lease
            configuration.heartbeatSeconds = max(0.2, lease / 3)
        }
        let store: any JobStore
        let storeName: String
        if let url = args.value("database"), !url.hasPrefix("sqlite:") {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw CLIError("--database must be a postgres:// URL (or leave it out for the embedded SQLite store)")
            }
            store = try openPostgres(url, leaseSeconds: configuration.leaseSeconds)
            storeName = "postgresql"
        } else {
            let path = args.value("database").map { String($0.dropFirst("sqlite:".count)) } ?? dataDir + "/assay.db"
            store = try SQLiteStore(path: path)
            storeName = "sqlite:" + path
        }

        let engine = JobEngine(
            store: store, configuration: configuration, runtimes: [.pmml: PMMLModelRuntime()],
            serverName: hostName())
        let keys = KeyAuthority(store: store)
        try blockingAwait { try await bootstrapAdminKey(store: store, keys: keys, dataDir: dataDir) }
        engine.start()

        var http = HTTPServerConfiguration()
        http.host = args.value("host") ?? "127.0.0.1"
        if let port = try args.int("port") {
            guard (0...65535).contains(port) else { throw CLIError("--port must be from 0 to 65535") }
            http.port = UInt16(port)
        }
        if let limit = try args.int("max-body-bytes") {
            guard limit > 0 else { throw CLIError("--max-body-bytes must be positive") }
            http.maxBodyBytes = limit
        }
        if let threads = try args.int("threads") { http.threads = max(1, threads) }
        http.payloadTooLarge = { limit in APIServer.errorResponse(.payloadTooLarge(limit: limit)) }
        let maxInFlight = try args.int("max-in-flight") ?? 4096
        guard maxInFlight > 0 else { throw CLIError("--max-in-flight must be positive") }
        let api = APIServer(engine: engine, keys: keys, maxInFlight: maxInFlight)
        let server = HTTPServer(configuration: http, handler: api)
        do {
            try server.start()
        } catch {
            throw CLIError("\(error)", exitCode: 1)
        }
        Log.info(
            "server started",
            ["address": "http://\(http.host):\(server.port)", "store": storeName, "data": dataDir])
        // Tools that start the server on port 0 read the bound port from this line.
        print("listening on http://\(http.host):\(server.port)")
        flushStandardOutput()

        waitForTermination()
        Log.info("server stopping")
        server.stop()
        blockingAwaitNoThrow {
            await engine.stop()
            await store.close()
        }
        Log.info("server stopped")
        return 0
    }

    /// On first start with no keys at all, creates an admin key and writes it to `<data>/admin.key`
    /// (mode 0600). The key never goes to the log.
    ///
    /// Servers of a cluster that start together on an empty store race for this: the one whose key
    /// the store takes writes the file, the others find the name taken and start without one.
    static func bootstrapAdminKey(store: any JobStore, keys: KeyAuthority, dataDir: String) async throws {
        guard try await store.keys().isEmpty else { return }
        let secret: String
        do {
            secret = try await keys.createKey(name: "admin", role: .admin, providers: [])
        } catch let error as AssayError where error.code == "CONFLICT" {
            Log.info("admin key made by another server of the cluster", ["data": dataDir])
            return
        }
        let path = dataDir + "/admin.key"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))", exitCode: 1) }
        fchmod(fd, 0o600)
        let bytes = Array((secret + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        Log.info("admin key created", ["file": path])
    }

    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw CLIError("cannot create folder \(current): \(String(cString: strerror(errno)))", exitCode: 1)
            }
        }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(cString: buffer)
    }

    /// Blocks the calling thread until SIGTERM or SIGINT arrives.
    static func waitForTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var signal: Int32 = 0
        sigwait(&set, &signal)
    }
}

/// Runs async work from synchronous command code and waits for it.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
        done.signal()
    }
    done.wait()
    return try box.get()
}

func blockingAwaitNoThrow(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private let lock = NSLockLike()

    func set(_ r: Result<T, any Error>) { lock.locked { result = r } }
    func get() throws -> T { try lock.locked { result! }.get() }
}

/// A pthread mutex, for the few places that guard plain stored properties.
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

func flushStandardOutput() {
    fflush(nil)
}

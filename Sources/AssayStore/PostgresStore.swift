import AssayInfotable
import Synchronization

/// The shared store: one PostgreSQL database (or one schema of it) serving any number of Assay
/// servers at once.
///
/// Writes go through `PostgresPool`'s writer connections, which run whatever is queued in one
/// transaction (group commit); reads through reader connections in autocommit mode; NOTIFY,
/// LISTEN and the maintenance lock through `PostgresCluster`'s connection. Every state transition
/// of `JobStore` is one transaction whose conditions are checked by the statement that changes the
/// row (`WHERE status = 'INPROCESS' AND lease_token = $n`), so servers never need to agree in
/// memory: claims lock the rows they take with `FOR UPDATE SKIP LOCKED`, so two servers never hand
/// out the same job and never wait for each other; a capped provider's claims take its row lock,
/// so `maxConcurrentJobs` holds across the cluster; submissions lock their model against deletion.
///
/// The connection URL is libpq's (`postgres://user@host:port/db?...`); Assay adds one parameter of
/// its own, `schema` (default `public`), which it removes before libpq sees the URL: the store
/// creates that schema and keeps its tables, NOTIFY channel and advisory locks in it, so several
/// independent clusters can share one database.
///
/// This file holds setup, events and the catalog (providers, models, files, keys, sessions,
/// agents); jobs are in `PostgresStore+Jobs.swift` and `PostgresStore+Running.swift`, QueryJobs
/// in `PostgresStore+Query.swift`.
public final class PostgresStore: JobStore {
    public let schema: String
    let writers: PostgresPool
    let readers: PostgresPool
    let cluster: PostgresCluster
    let health = PostgresHealth()
    let completions = PostgresCompletions()
    private let subscribers = Subscribers()
    private let closed = Atomic<Bool>(false)

    static let writerCount = 3
    static let readerCount = 3

    /// Connects, creates the schema when absent and brings it up to date.
    /// - Parameters:
    ///   - url: a `postgres://` or `postgresql://` URL, optionally with `schema=NAME`.
    ///   - leaseSeconds: the servers' lease, for the extension granted when the maintenance role moves.
    /// - Throws: `STORE_UNAVAILABLE` when PostgreSQL cannot be reached; `INTERNAL_ERROR` for a bad
    ///   URL or a failed migration.
    public init(url: String, leaseSeconds: Double = 15) throws {
        let (conninfo, schema) = try Self.parse(url)
        self.schema = schema
        let lockKey = Self.lockKey(for: schema)
        let setup = "SET search_path TO \(Self.quoted(schema)); SET application_name TO 'assay'"
        let first = PostgresConnection(conninfo: conninfo, setup: setup)
        do {
            try first.connectIfNeeded()
            try PostgresMigrations.migrate(first, schema: schema, lockKey: lockKey)
        } catch let error as PostgresError {
            throw error.isUnavailable ? error.assayError : AssayError.internalError("\(error)")
        }
        let subscribers = self.subscribers
        let health = self.health
        let cluster = try PostgresCluster(
            connection: PostgresConnection(conninfo: conninfo, setup: setup), channel: "assay_events_" + schema,
            lockKey: lockKey, leaseSeconds: leaseSeconds, health: health,
            deliver: { subscribers.publish($0) })
        self.cluster = cluster
        let sink = PostgresPool.Sink(
            publish: { events in
                subscribers.publish(events)
                cluster.send(events)
            }, schedule: { cluster.schedule($0) })
        writers = try PostgresPool(
            name: "writer",
            connections: [first]
                + (1..<Self.writerCount).map { _ in PostgresConnection(conninfo: conninfo, setup: setup) },
            batched: true, health: health, sink: sink)
        readers = try PostgresPool(
            name: "reader",
            connections: (0..<Self.readerCount).map { _ in PostgresConnection(conninfo: conninfo, setup: setup) },
            batched: false, health: health, sink: sink)
    }

    /// Splits Assay's `schema` parameter off the URL and adds libpq defaults that make a lost
    /// server noticed in seconds rather than minutes (connect and TCP time-outs, keepalives).
    static func parse(_ url: String) throws -> (conninfo: String, schema: String) {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw AssayError.internalError("The database URL must start with postgres:// or postgresql://.")
        }
        var base = url
        var parameters: [(String, String)] = []
        if let mark = url.firstIndex(of: "?") {
            base = String(url[..<mark])
            for part in url[url.index(after: mark)...].split(separator: "&") where !part.isEmpty {
                let pieces = part.split(separator: "=", maxSplits: 1)
                parameters.append((String(pieces[0]), pieces.count > 1 ? String(pieces[1]) : ""))
            }
        }
        var schema = "public"
        if let index = parameters.firstIndex(where: { $0.0 == "schema" }) {
            schema = parameters[index].1.removingPercentEncoding
            parameters.remove(at: index)
        }
        let valid =
            !schema.isEmpty && schema.utf8.count <= 48
            && schema.unicodeScalars.allSatisfy {
                ($0.isASCII && $0.properties.isAlphabetic) || $0 == "_" || ("0"..."9").contains($0)
            }
            && !("0"..."9").contains(schema.unicodeScalars.first!)
        guard valid else {
            throw AssayError.internalError(
                "The database URL's schema '\(schema)' must be 1 to 48 letters, digits and underscores, not starting "
                    + "with a digit.")
        }
        let defaults = [
            ("connect_timeout", "3"), ("keepalives_idle", "5"), ("keepalives_interval", "2"),
            ("keepalives_count", "3"), ("tcp_user_timeout", "10000"),
        ]
        for (key, value) in defaults where !parameters.contains(where: { $0.0 == key }) {
            parameters.append((key, value))
        }
        return (base + "?" + parameters.map { "\($0.0)=\($0.1)" }.joined(separator: "&"), schema)
    }

    /// A stable 32-bit key per schema for its advisory locks (maintenance 1, migrations 2).
    static func lockKey(for schema: String) -> Int32 {
        var hash: UInt32 = 2_166_136_261
        for byte in ("assay:" + schema).utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Int32(bitPattern: hash)
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingAll("\"", with: "\"\"") + "\""
    }

    // MARK: - Running operations

    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresPool.Context) throws -> T) async throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw AssayError.storeUnavailable("The store is closed.") }
        return try await writers.perform(body)
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw AssayError.storeUnavailable("The store is closed.") }
        return try await readers.perform { try body($0.connection) }
    }

    // MARK: - Events and health

    public func subscribe(_ handler: @escaping @Sendable (StoreEvent) -> Void) {
        subscribers.add(handler)
    }

    public func isAvailable() async -> Bool {
        !closed.load(ordering: .acquiring) && health.isAvailable
    }

    public func holdsMaintenanceRole() async -> Bool {
        !closed.load(ordering: .acquiring) && cluster.holdsRole
    }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await writers.stop()
        await readers.stop()
        cluster.stop()
    }

    /// Commits so far, for the benchmark's report.
    public var commitCount: Int { writers.commits.load(ordering: .relaxed) }

    // MARK: - Providers

    static let providerColumns =
        "name, description, connector, purge_hours, max_attempts, max_concurrent, job_timeout, created_time"

    static func decodeProvider(_ r: PostgresResult, _ i: Int) -> ProviderRecord {
        ProviderRecord(
            name: r.text(i, 0), description: r.text(i, 1), connector: ConnectorName(rawValue: r.text(i, 2)) ?? .agent,
            purgeJobsAgeHours: r.double(i, 3), maxAttempts: r.int(i, 4), maxConcurrentJobs: r.int(i, 5),
            jobTimeoutSeconds: r.double(i, 6), createdTime: r.int64(i, 7))
    }

    static func loadProvider(_ c: PostgresConnection, _ name: String, lock: String = "") throws -> ProviderRecord? {
        let r = try c.query("SELECT \(providerColumns) FROM providers WHERE name = $1 \(lock)", [.text(name)])
        return r.count > 0 ? decodeProvider(r, 0) : nil
    }

    public func createProvider(_ provider: ProviderRecord) async throws {
        try await write { context in
            let inserted = try context.connection.run(
                "INSERT INTO providers (\(Self.providerColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                    + "ON CONFLICT DO NOTHING",
                [
                    .text(provider.name), .text(provider.description), .text(provider.connector.rawValue),
                    .double(provider.purgeJobsAgeHours), .int(provider.maxAttempts), .int(provider.maxConcurrentJobs),
                    .double(provider.jobTimeoutSeconds), .int(provider.createdTime),
                ])
            guard inserted > 0 else {
                throw AssayError.conflict(
                    "A provider named '\(provider.name)' already exists; choose another name or update it.")
            }
        }
    }

    public func updateProvider(_ provider: ProviderRecord) async throws {
        try await write { context in
            let changed = try context.connection.run(
                "UPDATE providers SET description = $1, connector = $2, purge_hours = $3, max_attempts = $4, "
                    + "max_concurrent = $5, job_timeout = $6 WHERE name = $7",
                [
                    .text(provider.description), .text(provider.connector.rawValue),
                    .double(provider.purgeJobsAgeHours), .int(provider.maxAttempts), .int(provider.maxConcurrentJobs),
                    .double(provider.jobTimeoutSeconds), .text(provider.name),
                ])
            guard changed > 0 else { throw AssayError.unknownProvider(provider.name) }
            context.announce(.jobsAvailable(provider: provider.name))
        }
    }

    /// Also deletes what only made sense with the provider: its finished jobs, model files, agents
    /// and session pins. The provider's row lock keeps a model from being created meanwhile.
    public func deleteProvider(_ name: String) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, name, lock: "FOR UPDATE") != nil else {
                throw AssayError.unknownProvider(name)
            }
            let models = try c.query("SELECT COUNT(*) FROM models WHERE provider = $1", [.text(name)]).int(0, 0)
            guard models == 0 else {
                throw AssayError.conflict(
                    "Provider '\(name)' still has \(models) model(s); delete them before deleting the provider.")
            }
            let jobs = "SELECT seq FROM jobs WHERE provider = $1"
            try c.run("DELETE FROM job_errors WHERE job_seq IN (\(jobs))", [.text(name)])
            try c.run("DELETE FROM job_files WHERE job_seq IN (\(jobs))", [.text(name)])
            for table in ["jobs", "model_files", "clients", "session_pins"] {
                try c.run("DELETE FROM \(table) WHERE provider = $1", [.text(name)])
            }
            try c.run("DELETE FROM providers WHERE name = $1", [.text(name)])
        }
    }

    public func provider(_ name: String) async throws -> ProviderRecord? {
        try await read { try Self.loadProvider($0, name) }
    }

    public func providers() async throws -> [ProviderRecord] {
        try await read { c in
            let r = try c.query("SELECT \(Self.providerColumns) FROM providers ORDER BY name")
            return (0..<r.count).map { Self.decodeProvider(r, $0) }
        }
    }

    // MARK: - Models

    static let modelColumns =
        "provider, name, description, input_shape, result_shape, cardinality, enabled, file_name, created_time"

    static func decodeModel(_ r: PostgresResult, _ i: Int) -> ModelRecord {
        ModelRecord(
            provider: r.text(i, 0), name: r.text(i, 1), description: r.text(i, 2), inputShapeJSON: r.text(i, 3),
            resultShapeJSON: r.text(i, 4), cardinality: r.text(i, 5), enabled: r.bool(i, 6),
            fileName: r.optionalText(i, 7), createdTime: r.int64(i, 8))
    }

    public func createModel(_ model: ModelRecord) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, model.provider, lock: "FOR KEY SHARE") != nil else {
                throw AssayError.unknownProvider(model.provider)
            }
            let inserted = try c.run(
                "INSERT INTO models (\(Self.modelColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                    + "ON CONFLICT DO NOTHING",
                [
                    .text(model.provider), .text(model.name), .text(model.description), .text(model.inputShapeJSON),
                    .text(model.resultShapeJSON), .text(model.cardinality), .bool(model.enabled), .of(model.fileName),
                    .int(model.createdTime),
                ])
            guard inserted > 0 else {
                throw AssayError.conflict(
                    "Provider '\(model.provider)' already has a model named '\(model.name)'; choose another name "
                        + "or delete that model first.")
            }
        }
    }

    public func setModelEnabled(provider: String, model: String, enabled: Bool) async throws {
        try await write { context in
            let changed = try context.connection.run(
                "UPDATE models SET enabled = $1 WHERE provider = $2 AND name = $3",
                [.bool(enabled), .text(provider), .text(model)])
            guard changed > 0 else { throw AssayError.unknownModel(provider: provider, model: model) }
        }
    }

    /// The model's row lock waits for submissions that hold it, so their jobs are counted.
    public func deleteModel(provider: String, model: String) async throws {
        try await write { context in
            let c = context.connection
            let exists = try c.query(
                "SELECT 1 FROM models WHERE provider = $1 AND name = $2 FOR UPDATE", [.text(provider), .text(model)])
            guard exists.count > 0 else { throw AssayError.unknownModel(provider: provider, model: model) }
            let unfinished = try c.query(
                "SELECT COUNT(*) FROM jobs WHERE provider = $1 AND status IN ('WAITING', 'INPROCESS') AND model = $2",
                [.text(provider), .text(model)]
            ).int(0, 0)
            guard unfinished == 0 else {
                throw AssayError.conflict(
                    "Model '\(model)' of provider '\(provider)' still has \(unfinished) waiting or running job(s); "
                        + "disable it and wait for them to finish before deleting it.")
            }
            try c.run("DELETE FROM models WHERE provider = $1 AND name = $2", [.text(provider), .text(model)])
        }
    }

    public func model(provider: String, model: String) async throws -> ModelRecord? {
        try await read { c in
            let r = try c.query(
                "SELECT \(Self.modelColumns) FROM models WHERE provider = $1 AND name = $2",
                [.text(provider), .text(model)])
            return r.count > 0 ? Self.decodeModel(r, 0) : nil
        }
    }

    public func models(provider: String?) async throws -> [ModelRecord] {
        try await read { c in
            let r =
                if let provider {
                    try c.query(
                        "SELECT \(Self.modelColumns) FROM models WHERE provider = $1 ORDER BY name", [.text(provider)])
                } else {
                    try c.query("SELECT \(Self.modelColumns) FROM models ORDER BY provider, name")
                }
            return (0..<r.count).map { Self.decodeModel(r, $0) }
        }
    }

    public func putModelFile(provider: String, name: String, data: [UInt8]) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, provider, lock: "FOR KEY SHARE") != nil else {
                throw AssayError.unknownProvider(provider)
            }
            try c.run(
                "INSERT INTO model_files (provider, name, data) VALUES ($1, $2, $3) "
                    + "ON CONFLICT (provider, name) DO UPDATE SET data = excluded.data",
                [.text(provider), .text(name), .bytes(data)])
        }
    }

    public func modelFile(provider: String, name: String) async throws -> [UInt8]? {
        try await read { c in
            let r = try c.query(
                "SELECT data FROM model_files WHERE provider = $1 AND name = $2", [.text(provider), .text(name)])
            return r.count > 0 ? r.bytes(0, 0) : nil
        }
    }

    // MARK: - Application keys

    static func decodeKey(_ r: PostgresResult, _ i: Int) -> KeyRecord {
        let providers = (try? JSON.parse(r.text(i, 2)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return KeyRecord(
            name: r.text(i, 0), role: KeyRole(rawValue: r.text(i, 1)) ?? .user, providers: providers,
            hash: r.text(i, 3), createdTime: r.int64(i, 4))
    }

    public func createKey(_ key: KeyRecord) async throws {
        let providers = JSON.string(.array(key.providers.map { .string($0) }))
        try await write { context in
            let inserted = try context.connection.run(
                "INSERT INTO app_keys (name, role, providers, hash, created_time) VALUES ($1, $2, $3, $4, $5) "
                    + "ON CONFLICT DO NOTHING",
                [.text(key.name), .text(key.role.rawValue), .text(providers), .text(key.hash), .int(key.createdTime)])
            guard inserted > 0 else {
                throw AssayError.conflict(
                    "An application key named '\(key.name)' (or with the same secret) already exists; "
                        + "choose another name.")
            }
        }
    }

    public func deleteKey(name: String) async throws -> Bool {
        try await write { context in
            try context.connection.run("DELETE FROM app_keys WHERE name = $1", [.text(name)]) > 0
        }
    }

    public func keys() async throws -> [KeyRecord] {
        try await read { c in
            let r = try c.query("SELECT name, role, providers, hash, created_time FROM app_keys ORDER BY name")
            return (0..<r.count).map { Self.decodeKey(r, $0) }
        }
    }

    public func key(hash: String) async throws -> KeyRecord? {
        try await read { c in
            let r = try c.query(
                "SELECT name, role, providers, hash, created_time FROM app_keys WHERE hash = $1", [.text(hash)])
            return r.count > 0 ? Self.decodeKey(r, 0) : nil
        }
    }

    // MARK: - Sessions

    /// A session that stops being stateful is forgotten with its pins, as in the SQLite store.
    public func setSessionStateful(_ sessionId: String, stateful: Bool, now: Millis) async throws {
        try await write { context in
            let c = context.connection
            if stateful {
                try c.run(
                    "INSERT INTO sessions (session_id, stateful, updated) VALUES ($1, TRUE, $2) "
                        + "ON CONFLICT (session_id) DO UPDATE SET stateful = TRUE, updated = excluded.updated",
                    [.text(sessionId), .int(now)])
            } else {
                try Self.endSession(c, sessionId)
            }
        }
    }

    static func endSession(_ c: PostgresConnection, _ sessionId: String) throws {
        try c.run("DELETE FROM sessions WHERE session_id = $1", [.text(sessionId)])
        try c.run("DELETE FROM session_pins WHERE session_id = $1", [.text(sessionId)])
    }

    public func isSessionStateful(_ sessionId: String) async throws -> Bool {
        try await read { c in
            let r = try c.query("SELECT stateful FROM sessions WHERE session_id = $1", [.text(sessionId)])
            return r.count > 0 && r.bool(0, 0)
        }
    }

    // MARK: - Agents

    static let clientColumns =
        "client_id, provider, host_name, models, capacity, running_jobs, last_heartbeat, health"

    public func removeClient(clientId: String) async throws {
        try await write { context in
            try context.connection.run("DELETE FROM clients WHERE client_id = $1", [.text(clientId)])
        }
    }

    public func clients(provider: String) async throws -> [ClientRecord] {
        try await read { c in
            let r = try c.query(
                "SELECT \(Self.clientColumns) FROM clients WHERE provider = $1 ORDER BY client_id", [.text(provider)])
            return (0..<r.count).map { i in
                ClientRecord(
                    clientId: r.text(i, 0), provider: r.text(i, 1), hostName: r.text(i, 2), modelsJSON: r.text(i, 3),
                    capacity: r.int(i, 4), runningJobs: r.int(i, 5), lastHeartbeat: r.int64(i, 6),
                    healthJSON: r.text(i, 7))
            }
        }
    }
}

extension String {
    /// The string with `%XX` escapes decoded (for URL query values); malformed escapes stay as they are.
    fileprivate var removingPercentEncoding: String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}

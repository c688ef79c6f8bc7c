import AssayInfotable
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The embedded store: one SQLite file (WAL mode) serving one Assay server.
///
/// Writes go through `SQLiteWriter` (one connection, one thread, group commit with
/// `synchronous=FULL`, so a returned write is on disk); reads through `SQLiteReaderPool`; WAL
/// checkpoints run on `SQLiteCheckpointer`'s thread, off the commit path. Referential rules
/// (a model needs its provider, a job its model) are checked in the write operations, which name
/// the missing object, rather than by SQLite foreign keys. Every job
/// state transition of `JobStore` is one write operation, so it is atomic and serialised with all
/// others: claims cannot hand a job out twice and a stale fencing token can never complete a job.
/// Results, result files and model files are BLOBs in the same file, so a backup of the file (with
/// its `-wal`) is a backup of everything. Limits: one process per file (a second server on the same
/// file would work but contend for the write lock); BLOBs are held in memory while read or written.
///
/// This file holds setup, events and the catalog (providers, models, files, keys, sessions,
/// agents); jobs are in `SQLiteStore+Jobs.swift` and `SQLiteStore+Running.swift`, QueryJobs in
/// `SQLiteStore+Query.swift`.
public final class SQLiteStore: JobStore {
    let writer: SQLiteWriter
    let readers: SQLiteReaderPool
    let checkpointer: SQLiteCheckpointer
    public let path: String
    private let subscribers = Subscribers()
    private let closed = Atomic<Bool>(false)

    /// Read connections: enough for the HTTP workers on a small machine; reads are short.
    static let readerCount = 3

    /// Opens (creating it and its folders when absent) the database at `path` and brings its schema
    /// up to date.
    public init(path: String) throws {
        self.path = path
        try Self.createParentFolders(of: path)
        do {
            let writeConnection = try SQLiteConnection(path: path)
            let mode = try writeConnection.row("PRAGMA journal_mode = WAL") { $0.text(0) }
            guard mode?.lowercased() == "wal" else {
                throw AssayError.internalError(
                    "SQLite refused WAL mode for '\(path)' (got '\(mode ?? "none")'); put the data folder on a "
                        + "local file system.")
            }
            // FULL: the WAL is synced at every commit, which is what makes a returned submit durable.
            try writeConnection.execute("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000")
            try SQLiteMigrations.migrate(writeConnection)
            var readConnections: [SQLiteConnection] = []
            for _ in 0..<Self.readerCount {
                let connection = try SQLiteConnection(path: path)
                try connection.execute("PRAGMA busy_timeout = 10000; PRAGMA query_only = 1")
                readConnections.append(connection)
            }
            let checkpointConnection = try SQLiteConnection(path: path)
            try checkpointConnection.execute("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000")
            checkpointer = try SQLiteCheckpointer(connection: checkpointConnection)
            writer = try SQLiteWriter(
                connection: writeConnection, checkpointer: checkpointer, publish: subscribers.publish)
            readers = try SQLiteReaderPool(connections: readConnections)
        } catch {
            throw error.asAssayError
        }
    }

    private static func createParentFolders(of path: String) throws {
        var folder = ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for (index, part) in parts.enumerated() {
            folder += (index == 0 ? "" : "/") + part
            guard !folder.isEmpty else { continue }
            if mkdir(folder, 0o755) != 0 && errno != EEXIST {
                let reason = String(cString: strerror(errno))
                throw AssayError.internalError("Cannot create the data folder '\(folder)': \(reason).")
            }
        }
    }

    // MARK: - Running operations

    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteWriter.Context) throws -> T) async throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw AssayError.storeUnavailable("The store is closed.") }
        return try await writer.perform(body)
    }

    func read<T: Sendable>(
        consistent: Bool = false, _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw AssayError.storeUnavailable("The store is closed.") }
        return try await readers.perform(consistent: consistent, body)
    }

    // MARK: - Events and health

    public func subscribe(_ handler: @escaping @Sendable (StoreEvent) -> Void) {
        subscribers.add(handler)
    }

    public func isAvailable() async -> Bool { !closed.load(ordering: .acquiring) }

    public func holdsMaintenanceRole() async -> Bool { true }

    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await writer.stop()
        await readers.stop()
        await checkpointer.stop()
    }

    // MARK: - Providers

    static let providerColumns =
        "name, description, connector, purge_hours, max_attempts, max_concurrent, job_timeout, created_time"

    static func decodeProvider(_ row: SQLiteStatement) -> ProviderRecord {
        ProviderRecord(
            name: row.text(0), description: row.text(1), connector: ConnectorName(rawValue: row.text(2)) ?? .agent,
            purgeJobsAgeHours: row.double(3), maxAttempts: row.int(4), maxConcurrentJobs: row.int(5),
            jobTimeoutSeconds: row.double(6), createdTime: row.int64(7))
    }

    static func loadProvider(_ connection: SQLiteConnection, _ name: String) throws -> ProviderRecord? {
        try connection.row("SELECT \(providerColumns) FROM providers WHERE name = ?", .text(name)) {
            decodeProvider($0)
        }
    }

    public func createProvider(_ provider: ProviderRecord) async throws {
        try await write { context in
            do {
                try context.connection.run(
                    "INSERT INTO providers (\(Self.providerColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    .text(provider.name), .text(provider.description), .text(provider.connector.rawValue),
                    .double(provider.purgeJobsAgeHours), .of(provider.maxAttempts), .of(provider.maxConcurrentJobs),
                    .double(provider.jobTimeoutSeconds), .int(provider.createdTime))
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw AssayError.conflict(
                    "A provider named '\(provider.name)' already exists; choose another name or update it.")
            }
        }
    }

    public func updateProvider(_ provider: ProviderRecord) async throws {
        try await write { context in
            // The creation time stays that of the original provider.
            let changed = try context.connection.run(
                "UPDATE providers SET description = ?, connector = ?, purge_hours = ?, max_attempts = ?, "
                    + "max_concurrent = ?, job_timeout = ? WHERE name = ?",
                .text(provider.description), .text(provider.connector.rawValue), .double(provider.purgeJobsAgeHours),
                .of(provider.maxAttempts), .of(provider.maxConcurrentJobs), .double(provider.jobTimeoutSeconds),
                .text(provider.name))
            guard changed > 0 else { throw AssayError.unknownProvider(provider.name) }
            // A raised cap may let waiting jobs run.
            context.announce(.jobsAvailable(provider: provider.name))
        }
    }

    /// Also deletes what only made sense with the provider: its finished jobs (unfinished ones
    /// cannot exist without models), model files, agents and session pins.
    public func deleteProvider(_ name: String) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, name) != nil else { throw AssayError.unknownProvider(name) }
            let models = try c.row("SELECT COUNT(*) FROM models WHERE provider = ?", .text(name)) { $0.int(0) } ?? 0
            guard models == 0 else {
                throw AssayError.conflict(
                    "Provider '\(name)' still has \(models) model(s); delete them before deleting the provider.")
            }
            let jobs = "SELECT seq FROM jobs WHERE provider = ?"
            try c.run("DELETE FROM job_data WHERE seq IN (\(jobs))", .text(name))
            try c.run("DELETE FROM job_errors WHERE job_seq IN (\(jobs))", .text(name))
            try c.run("DELETE FROM job_files WHERE job_seq IN (\(jobs))", .text(name))
            try c.run("DELETE FROM jobs WHERE provider = ?", .text(name))
            try c.run("DELETE FROM model_files WHERE provider = ?", .text(name))
            try c.run("DELETE FROM clients WHERE provider = ?", .text(name))
            try c.run("DELETE FROM session_pins WHERE provider = ?", .text(name))
            try c.run("DELETE FROM providers WHERE name = ?", .text(name))
        }
    }

    public func provider(_ name: String) async throws -> ProviderRecord? {
        try await read { try Self.loadProvider($0, name) }
    }

    public func providers() async throws -> [ProviderRecord] {
        try await read { c in
            try c.rows("SELECT \(Self.providerColumns) FROM providers ORDER BY name") { Self.decodeProvider($0) }
        }
    }

    // MARK: - Models

    static let modelColumns =
        "provider, name, description, input_shape, result_shape, cardinality, enabled, file_name, created_time"

    static func decodeModel(_ row: SQLiteStatement) -> ModelRecord {
        ModelRecord(
            provider: row.text(0), name: row.text(1), description: row.text(2), inputShapeJSON: row.text(3),
            resultShapeJSON: row.text(4), cardinality: row.text(5), enabled: row.int(6) != 0,
            fileName: row.optionalText(7), createdTime: row.int64(8))
    }

    public func createModel(_ model: ModelRecord) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, model.provider) != nil else {
                throw AssayError.unknownProvider(model.provider)
            }
            do {
                try c.run(
                    "INSERT INTO models (\(Self.modelColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    .text(model.provider), .text(model.name), .text(model.description), .text(model.inputShapeJSON),
                    .text(model.resultShapeJSON), .text(model.cardinality), .int(model.enabled ? 1 : 0),
                    .of(model.fileName), .int(model.createdTime))
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw AssayError.conflict(
                    "Provider '\(model.provider)' already has a model named '\(model.name)'; choose another name "
                        + "or delete that model first.")
            }
        }
    }

    public func setModelEnabled(provider: String, model: String, enabled: Bool) async throws {
        try await write { context in
            let changed = try context.connection.run(
                "UPDATE models SET enabled = ? WHERE provider = ? AND name = ?", .int(enabled ? 1 : 0),
                .text(provider), .text(model))
            guard changed > 0 else { throw AssayError.unknownModel(provider: provider, model: model) }
        }
    }

    public func deleteModel(provider: String, model: String) async throws {
        try await write { context in
            let c = context.connection
            let exists = try c.row(
                "SELECT 1 FROM models WHERE provider = ? AND name = ?", .text(provider), .text(model)
            ) { _ in true }
            guard exists != nil else { throw AssayError.unknownModel(provider: provider, model: model) }
            let unfinished =
                try c.row(
                    "SELECT COUNT(*) FROM jobs WHERE provider = ? AND status IN ('WAITING', 'INPROCESS') "
                        + "AND model = ?", .text(provider), .text(model)
                ) { $0.int(0) } ?? 0
            guard unfinished == 0 else {
                throw AssayError.conflict(
                    "Model '\(model)' of provider '\(provider)' still has \(unfinished) waiting or running job(s); "
                        + "disable it and wait for them to finish before deleting it.")
            }
            try c.run("DELETE FROM models WHERE provider = ? AND name = ?", .text(provider), .text(model))
        }
    }

    public func model(provider: String, model: String) async throws -> ModelRecord? {
        try await read { c in
            try c.row(
                "SELECT \(Self.modelColumns) FROM models WHERE provider = ? AND name = ?", .text(provider),
                .text(model)
            ) { Self.decodeModel($0) }
        }
    }

    public func models(provider: String?) async throws -> [ModelRecord] {
        try await read { c in
            if let provider {
                return try c.rows(
                    "SELECT \(Self.modelColumns) FROM models WHERE provider = ? ORDER BY name", .text(provider)
                ) { Self.decodeModel($0) }
            }
            return try c.rows("SELECT \(Self.modelColumns) FROM models ORDER BY provider, name") {
                Self.decodeModel($0)
            }
        }
    }

    public func putModelFile(provider: String, name: String, data: [UInt8]) async throws {
        try await write { context in
            let c = context.connection
            guard try Self.loadProvider(c, provider) != nil else { throw AssayError.unknownProvider(provider) }
            try c.run(
                "INSERT INTO model_files (provider, name, data) VALUES (?, ?, ?) "
                    + "ON CONFLICT (provider, name) DO UPDATE SET data = excluded.data",
                .text(provider), .text(name), .blob(data))
        }
    }

    public func modelFile(provider: String, name: String) async throws -> [UInt8]? {
        try await read { c in
            try c.row("SELECT data FROM model_files WHERE provider = ? AND name = ?", .text(provider), .text(name)) {
                $0.blob(0)
            }
        }
    }

    // MARK: - Application keys

    static func decodeKey(_ row: SQLiteStatement) -> KeyRecord {
        let providers = (try? JSON.parse(row.text(2)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return KeyRecord(
            name: row.text(0), role: KeyRole(rawValue: row.text(1)) ?? .user, providers: providers,
            hash: row.text(3), createdTime: row.int64(4))
    }

    public func createKey(_ key: KeyRecord) async throws {
        let providers = JSON.string(.array(key.providers.map { .string($0) }))
        try await write { context in
            do {
                try context.connection.run(
                    "INSERT INTO app_keys (name, role, providers, hash, created_time) VALUES (?, ?, ?, ?, ?)",
                    .text(key.name), .text(key.role.rawValue), .text(providers), .text(key.hash),
                    .int(key.createdTime))
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw AssayError.conflict(
                    "An application key named '\(key.name)' (or with the same secret) already exists; "
                        + "choose another name.")
            }
        }
    }

    public func deleteKey(name: String) async throws -> Bool {
        try await write { context in
            try context.connection.run("DELETE FROM app_keys WHERE name = ?", .text(name)) > 0
        }
    }

    public func keys() async throws -> [KeyRecord] {
        try await read { c in
            try c.rows("SELECT name, role, providers, hash, created_time FROM app_keys ORDER BY name") {
                Self.decodeKey($0)
            }
        }
    }

    public func key(hash: String) async throws -> KeyRecord? {
        try await read { c in
            try c.row("SELECT name, role, providers, hash, created_time FROM app_keys WHERE hash = ?", .text(hash)) {
                Self.decodeKey($0)
            }
        }
    }

    // MARK: - Sessions

    /// A session that stops being stateful is forgotten (with its pins) rather than kept as a row,
    /// so the table holds only the live stateful sessions.
    public func setSessionStateful(_ sessionId: String, stateful: Bool, now: Millis) async throws {
        try await write { context in
            let c = context.connection
            if stateful {
                try c.run(
                    "INSERT INTO sessions (session_id, stateful, updated) VALUES (?, 1, ?) "
                        + "ON CONFLICT (session_id) DO UPDATE SET stateful = 1, updated = excluded.updated",
                    .text(sessionId), .int(now))
            } else {
                try Self.endSession(c, sessionId)
            }
        }
    }

    static func endSession(_ c: SQLiteConnection, _ sessionId: String) throws {
        try c.run("DELETE FROM sessions WHERE session_id = ?", .text(sessionId))
        try c.run("DELETE FROM session_pins WHERE session_id = ?", .text(sessionId))
    }

    public func isSessionStateful(_ sessionId: String) async throws -> Bool {
        try await read { c in
            try c.row("SELECT stateful FROM sessions WHERE session_id = ?", .text(sessionId)) { $0.int(0) != 0 }
                ?? false
        }
    }

    // MARK: - Agents

    static let clientColumns =
        "client_id, provider, host_name, models, capacity, running_jobs, last_heartbeat, health"

    public func removeClient(clientId: String) async throws {
        try await write { context in
            try context.connection.run("DELETE FROM clients WHERE client_id = ?", .text(clientId))
        }
    }

    public func clients(provider: String) async throws -> [ClientRecord] {
        try await read { c in
            try c.rows(
                "SELECT \(Self.clientColumns) FROM clients WHERE provider = ? ORDER BY client_id", .text(provider)
            ) { row in
                ClientRecord(
                    clientId: row.text(0), provider: row.text(1), hostName: row.text(2), modelsJSON: row.text(3),
                    capacity: row.int(4), runningJobs: row.int(5), lastHeartbeat: row.int64(6),
                    healthJSON: row.text(7))
            }
        }
    }
}

/// The event handlers, called on the writer thread after each commit.
final class Subscribers: Sendable {
    private let handlers = Mutex<[@Sendable (StoreEvent) -> Void]>([])

    func add(_ handler: @escaping @Sendable (StoreEvent) -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    @Sendable func publish(_ events: [StoreEvent]) {
        let current = handlers.withLock { $0 }
        for event in events {
            for handler in current { handler(event) }
        }
    }
}

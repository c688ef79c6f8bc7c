import AssayInfotable
import Foundation
import Synchronization
import Testing

@testable import AssayStore

/// The stores the shared behaviour tests run against: always a fresh SQLiteStore in a temporary
/// folder and, when `ASSAY_TEST_POSTGRES_URL` is set, a PostgreSQL store on a clean schema. Each
/// fixture can open a second store on the same data (`reopen`) for durability tests.
struct StoreFixture: Sendable {
    let name: String
    let store: any JobStore
    /// Opens another store on the same database; call after closing `store`.
    let reopen: @Sendable () async throws -> any JobStore
    let cleanup: @Sendable () -> Void
}

func makeFixtures() throws -> [StoreFixture] {
    var fixtures: [StoreFixture] = []
    let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("assay-store-tests-\(UUID().uuidString)").path
    let path = folder + "/db/assay.sqlite"
    fixtures.append(
        StoreFixture(
            name: "sqlite", store: try SQLiteStore(path: path), reopen: { try SQLiteStore(path: path) },
            cleanup: { try? FileManager.default.removeItem(atPath: folder) }))

    if let url = postgresTestURL {
        let schema = "store_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        let schemaURL = url + (url.contains("?") ? "&" : "?") + "schema=" + schema
        fixtures.append(
            StoreFixture(
                name: "postgres", store: try PostgresStore(url: schemaURL),
                reopen: { try PostgresStore(url: schemaURL) },
                cleanup: { dropPostgresSchema(url: url, schema: schema) }))
    }
    return fixtures
}

/// The PostgreSQL server the tests may use (`ASSAY_TEST_POSTGRES_URL`, a libpq URL).
let postgresTestURL = ProcessInfo.processInfo.environment["ASSAY_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// Drops a test schema with everything in it.
func dropPostgresSchema(url: String, schema: String) {
    guard let (conninfo, _) = try? PostgresStore.parse(url) else { return }
    let connection = PostgresConnection(conninfo: conninfo, setup: "SET client_min_messages TO warning")
    try? connection.connectIfNeeded()
    try? connection.execute("DROP SCHEMA IF EXISTS \(PostgresStore.quoted(schema)) CASCADE")
    connection.close()
}

/// The shared stores as (name, store) pairs.
func makeStores() throws -> [(name: String, store: any JobStore)] {
    try makeFixtures().map { ($0.name, $0.store) }
}

/// Runs `body` once per store kind, closing and removing the store afterwards.
func forEachStore(_ body: (StoreFixture) async throws -> Void) async throws {
    for fixture in try makeFixtures() {
        do {
            try await body(fixture)
        } catch {
            Issue.record("[\(fixture.name)] \(error)")
        }
        await fixture.store.close()
        fixture.cleanup()
    }
}

// MARK: - Shared helpers

let t0: Millis = 1_700_000_000_000

func makeProvider(
    _ store: any JobStore, _ name: String = "p", models: [String] = ["m"], maxAttempts: Int = 3,
    maxConcurrentJobs: Int = 0, purgeHours: Double = 168
) async throws {
    try await store.createProvider(
        ProviderRecord(
            name: name, maxAttempts: maxAttempts, maxConcurrentJobs: maxConcurrentJobs, createdTime: t0
        )
        .with { $0.purgeJobsAgeHours = purgeHours })
    for model in models {
        try await store.createModel(
            ModelRecord(provider: name, name: model, inputShapeJSON: "[]", resultShapeJSON: "[]", createdTime: t0))
    }
}

func newJob(
    _ id: String, provider: String = "p", model: String = "m", priority: Int = 0, created: Millis = t0,
    maxAttempts: Int = 3, session: String? = nil, key: String? = nil, extra: String = "{}", custom: String? = nil
) -> NewJob {
    NewJob(
        id: id, provider: provider, model: model, priority: priority, maxAttempts: maxAttempts, sessionId: session,
        idempotencyKey: key, extraParamsJSON: extra, customDataJSON: custom, input: Array("in-\(id)".utf8),
        createdTime: created)
}

func client(_ id: String, provider: String = "p") -> ClientRecord {
    ClientRecord(
        clientId: id, provider: provider, hostName: "host-\(id)", modelsJSON: "[\"m\"]", capacity: 4, runningJobs: 0,
        lastHeartbeat: 0, healthJSON: "{}")
}

/// Expects `body` to throw an `AssayError` with `code`.
func expectError(
    _ code: String, _ label: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("\(label): expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as AssayError {
        #expect(error.code == code, "\(label): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(label): expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

extension ProviderRecord {
    func with(_ change: (inout ProviderRecord) -> Void) -> ProviderRecord {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Collects store events for assertions.
final class EventLog: Sendable {
    private let events = Mutex<[StoreEvent]>([])

    init(_ store: any JobStore) {
        store.subscribe { [weak self] event in self?.events.withLock { $0.append(event) } }
    }

    var all: [StoreEvent] { events.withLock { $0 } }

    func clear() { events.withLock { $0.removeAll() } }

    /// Waits up to two seconds for `event` (events arrive on the writer's thread after commit).
    func waitFor(_ event: StoreEvent) async -> Bool {
        for _ in 0..<200 {
            if all.contains(event) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

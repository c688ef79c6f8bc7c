import AssayInfotable
import Foundation
import Testing

@testable import AssayStore

/// What only the SQLite store has: its file, its schema migrations and its life cycle.
@Suite struct SQLiteStoreTests {
    private func temporaryPath() -> (folder: String, path: String) {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("assay-sqlite-tests-\(UUID().uuidString)").path
        return (folder, folder + "/nested/store.sqlite")
    }

    @Test func olderFilesAreMigratedAndReopeningIsIdempotent() async throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try SQLiteStore(path: path)  // creates the folders
        await first.close()
        try FileManager.default.removeItem(atPath: path)

        // A file as the first release left it: version 1, with data.
        let old = try SQLiteConnection(path: path)
        try SQLiteMigrations.migrate(old, upTo: 1)
        #expect(try SQLiteMigrations.version(of: old) == 1)
        try old.run(
            "INSERT INTO providers (name, description, connector, purge_hours, max_attempts, max_concurrent, "
                + "job_timeout, created_time) VALUES ('p', 'old', 'agent', 1, 3, 0, 0, 5)")
        old.close()

        let store = try SQLiteStore(path: path)
        #expect(try await store.provider("p")?.description == "old")
        await store.close()
        let check = try SQLiteConnection(path: path)
        #expect(try SQLiteMigrations.version(of: check) == SQLiteMigrations.latestVersion)
        let indexes = try check.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'jobs_claim'") {
            $0.text(0)
        }
        #expect(indexes == ["jobs_claim"])
        check.close()

        let again = try SQLiteStore(path: path)
        #expect(try await again.providers().count == 1)
        await again.close()
    }

    @Test func filesFromANewerAssayAreRefused() async throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await (try SQLiteStore(path: path)).close()
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA user_version = 999")
        connection.close()
        #expect(throws: AssayError.self) { try SQLiteStore(path: path) }
    }

    @Test func fencingTokensKeepIncreasingAcrossRestarts() async throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var store = try SQLiteStore(path: path)
        try await makeProvider(store)
        _ = try await store.submit([newJob("a"), newJob("b", created: t0 + 1)])
        let first = try await store.claim(provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 9, now: t0)
        await store.close()
        store = try SQLiteStore(path: path)
        let second = try await store.claim(
            provider: "p", clientId: "A", models: ["m"], max: 1, leaseSeconds: 9, now: t0)
        #expect(second[0].token > first[0].token)
        await store.close()
    }

    @Test func aClosedStoreIsUnavailable() async throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try SQLiteStore(path: path)
        #expect(await store.isAvailable())
        #expect(await store.holdsMaintenanceRole())
        await store.close()
        await store.close()
        #expect(await !store.isAvailable())
        await expectError("STORE_UNAVAILABLE", "write") { try await makeProvider(store) }
        await expectError("STORE_UNAVAILABLE", "read") { _ = try await store.providers() }
    }

    @Test func unopenablePathsReportTheFolder() async throws {
        #expect(throws: AssayError.self) { try SQLiteStore(path: "/proc/assay-cannot-be-here/store.sqlite") }
    }

    /// Run by hand: `ASSAY_STORE_BENCHMARK=1 swift test -c release -Xswiftc -enable-testing
    /// --filter submitThroughput`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ASSAY_STORE_BENCHMARK"] != nil))
    func submitThroughput() async throws {
        let (folder, _) = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for batch in [1, 10] {
            let report = try await SQLiteStore.selfBenchmark(
                folder: folder + "/bench\(batch)", submitters: 32, jobsPerSubmitter: 2000 / batch * batch,
                jobsPerCall: batch)
            print(report)
        }
    }
}

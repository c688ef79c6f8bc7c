import AssayInfotable

/// The SQLite schema as an ordered list of migration steps. The file's `PRAGMA user_version` says
/// how many steps it has; opening a file applies the missing ones, each in its own transaction
/// together with the new version number, so a crash mid-migration leaves the file at the last
/// completed step. Steps are never edited once released: a change is a new step at the end.
///
/// Tables: jobs keep their state in `jobs` (small rows, scanned by claims) and their input and
/// results in `job_data`, keyed by the job's `seq`, so claim scans never page through payloads.
/// Times are INTEGER milliseconds since the epoch.
enum SQLiteMigrations {
    struct Step {
        var version: Int
        var purpose: String
        var sql: String
    }

    static let steps: [Step] = [
        Step(
            version: 1, purpose: "catalog, jobs, agents and sessions",
            sql: """
                CREATE TABLE providers (
                    name TEXT PRIMARY KEY, description TEXT NOT NULL, connector TEXT NOT NULL,
                    purge_hours REAL NOT NULL, max_attempts INTEGER NOT NULL, max_concurrent INTEGER NOT NULL,
                    job_timeout REAL NOT NULL, created_time INTEGER NOT NULL);
                CREATE TABLE models (
                    provider TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
                    input_shape TEXT NOT NULL, result_shape TEXT NOT NULL, cardinality TEXT NOT NULL,
                    enabled INTEGER NOT NULL, file_name TEXT, created_time INTEGER NOT NULL,
                    PRIMARY KEY (provider, name));
                CREATE TABLE model_files (
                    provider TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (provider, name));
                CREATE TABLE app_keys (
                    name TEXT PRIMARY KEY, role TEXT NOT NULL, providers TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
                    created_time INTEGER NOT NULL);
                CREATE TABLE jobs (
                    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
                    status TEXT NOT NULL, priority INTEGER NOT NULL, attempt INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL, timeout_seconds REAL NOT NULL, client_id TEXT, session_id TEXT,
                    created_time INTEGER NOT NULL, start_time INTEGER, end_time INTEGER,
                    last_updated INTEGER NOT NULL, error_code TEXT, error_message TEXT,
                    extra_params TEXT NOT NULL, custom_data TEXT, idempotency_key TEXT,
                    lease_token INTEGER, lease_expires INTEGER, not_before INTEGER);
                CREATE UNIQUE INDEX jobs_by_id ON jobs (provider, id);
                CREATE TABLE job_data (seq INTEGER PRIMARY KEY, input BLOB NOT NULL, results BLOB);
                CREATE TABLE job_errors (
                    job_seq INTEGER NOT NULL, attempt INTEGER NOT NULL, error_code TEXT NOT NULL,
                    error_message TEXT NOT NULL, details TEXT NOT NULL, timestamp INTEGER NOT NULL);
                CREATE INDEX job_errors_by_job ON job_errors (job_seq);
                CREATE TABLE job_files (
                    job_seq INTEGER NOT NULL, name TEXT NOT NULL, content_type TEXT NOT NULL,
                    size INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (job_seq, name));
                CREATE TABLE clients (
                    client_id TEXT PRIMARY KEY, provider TEXT NOT NULL, host_name TEXT NOT NULL,
                    models TEXT NOT NULL, capacity INTEGER NOT NULL, running_jobs INTEGER NOT NULL,
                    last_heartbeat INTEGER NOT NULL, health TEXT NOT NULL);
                CREATE TABLE sessions (
                    session_id TEXT PRIMARY KEY, stateful INTEGER NOT NULL, updated INTEGER NOT NULL);
                CREATE TABLE session_pins (
                    session_id TEXT NOT NULL, provider TEXT NOT NULL, client_id TEXT NOT NULL,
                    PRIMARY KEY (session_id, provider));
                CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO counters (name, value) VALUES ('lease_token', 0);
                """),
        Step(
            version: 2, purpose: "indexes for the hot paths",
            sql: """
                CREATE INDEX jobs_claim ON jobs (provider, status, priority DESC, created_time, id);
                CREATE UNIQUE INDEX jobs_idempotency ON jobs (provider, idempotency_key)
                    WHERE idempotency_key IS NOT NULL;
                CREATE INDEX jobs_lease ON jobs (status, lease_expires);
                CREATE INDEX jobs_purge ON jobs (status, end_time);
                CREATE INDEX jobs_created ON jobs (created_time);
                CREATE INDEX jobs_due ON jobs (provider, not_before)
                    WHERE status = 'WAITING' AND not_before IS NOT NULL;
                CREATE INDEX jobs_session ON jobs (session_id) WHERE session_id IS NOT NULL;
                CREATE INDEX session_pins_by_client ON session_pins (client_id);
                """),
    ]

    static var latestVersion: Int { steps.last?.version ?? 0 }

    static func version(of connection: SQLiteConnection) throws -> Int {
        try connection.row("PRAGMA user_version") { $0.int(0) } ?? 0
    }

    /// Brings the file up to `target` (the latest step by default). Refuses a file written by a
    /// newer Assay rather than guessing at a schema it does not know.
    static func migrate(_ connection: SQLiteConnection, upTo target: Int = latestVersion) throws {
        let current = try version(of: connection)
        guard current <= latestVersion else {
            throw AssayError.internalError(
                "The database '\(connection.path)' has schema version \(current), but this Assay knows only up to "
                    + "\(latestVersion); run a newer Assay or restore a backup.")
        }
        for step in steps where step.version > current && step.version <= target {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                try connection.execute(step.sql)
                try connection.execute("PRAGMA user_version = \(step.version)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw AssayError.internalError(
                    "Migrating '\(connection.path)' to schema version \(step.version) (\(step.purpose)) failed: "
                        + "\(error); the file is left at version \((try? version(of: connection)) ?? current).")
            }
        }
    }
}

import AssayInfotable

/// The PostgreSQL schema as an ordered list of migration steps, recorded in `assay_migrations`.
/// Every server that opens the store brings it up to date inside one transaction that holds the
/// schema's migration lock, so servers starting together never apply a step twice, and a failed
/// step leaves the schema as it was. Steps are never edited once released: a change is a new step.
///
/// Unlike the SQLite layout, a job's input and results are columns of `jobs`: PostgreSQL keeps
/// large values out of line (TOAST) by itself, so claim scans still read small rows, and a job is
/// one row to insert, claim and complete. Text columns use the "C" collation so that sorting and
/// comparing strings is bytewise, as in SQLite, whatever the database's locale.
enum PostgresMigrations {
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
                    name TEXT COLLATE "C" PRIMARY KEY, description TEXT NOT NULL, connector TEXT NOT NULL,
                    purge_hours DOUBLE PRECISION NOT NULL, max_attempts INTEGER NOT NULL,
                    max_concurrent INTEGER NOT NULL, job_timeout DOUBLE PRECISION NOT NULL,
                    created_time BIGINT NOT NULL);
                CREATE TABLE models (
                    provider TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, description TEXT NOT NULL,
                    input_shape TEXT NOT NULL, result_shape TEXT NOT NULL, cardinality TEXT NOT NULL,
                    enabled BOOLEAN NOT NULL, file_name TEXT, created_time BIGINT NOT NULL,
                    PRIMARY KEY (provider, name));
                CREATE TABLE model_files (
                    provider TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, data BYTEA NOT NULL,
                    PRIMARY KEY (provider, name));
                CREATE TABLE app_keys (
                    name TEXT COLLATE "C" PRIMARY KEY, role TEXT NOT NULL, providers TEXT NOT NULL,
                    hash TEXT NOT NULL UNIQUE, created_time BIGINT NOT NULL);
                CREATE TABLE jobs (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT COLLATE "C" NOT NULL,
                    provider TEXT COLLATE "C" NOT NULL, model TEXT COLLATE "C" NOT NULL,
                    status TEXT COLLATE "C" NOT NULL, priority INTEGER NOT NULL, attempt INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL, timeout_seconds DOUBLE PRECISION NOT NULL,
                    client_id TEXT COLLATE "C", session_id TEXT COLLATE "C", created_time BIGINT NOT NULL,
                    start_time BIGINT, end_time BIGINT, last_updated BIGINT NOT NULL,
                    error_code TEXT COLLATE "C", error_message TEXT COLLATE "C", extra_params TEXT NOT NULL,
                    custom_data TEXT, idempotency_key TEXT COLLATE "C", lease_token BIGINT, lease_expires BIGINT,
                    not_before BIGINT, input BYTEA NOT NULL, results BYTEA);
                CREATE UNIQUE INDEX jobs_by_id ON jobs (provider, id);
                CREATE TABLE job_errors (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_seq BIGINT NOT NULL,
                    attempt INTEGER NOT NULL, error_code TEXT NOT NULL, error_message TEXT NOT NULL,
                    details TEXT NOT NULL, timestamp BIGINT NOT NULL);
                CREATE INDEX job_errors_by_job ON job_errors (job_seq);
                CREATE TABLE job_files (
                    job_seq BIGINT NOT NULL, name TEXT COLLATE "C" NOT NULL, content_type TEXT NOT NULL,
                    size BIGINT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (job_seq, name));
                CREATE TABLE clients (
                    client_id TEXT COLLATE "C" PRIMARY KEY, provider TEXT COLLATE "C" NOT NULL,
                    host_name TEXT NOT NULL, models TEXT NOT NULL, capacity INTEGER NOT NULL,
                    running_jobs INTEGER NOT NULL, last_heartbeat BIGINT NOT NULL, health TEXT NOT NULL);
                CREATE TABLE sessions (
                    session_id TEXT COLLATE "C" PRIMARY KEY, stateful BOOLEAN NOT NULL, updated BIGINT NOT NULL);
                CREATE TABLE session_pins (
                    session_id TEXT COLLATE "C" NOT NULL, provider TEXT COLLATE "C" NOT NULL,
                    client_id TEXT COLLATE "C" NOT NULL, PRIMARY KEY (session_id, provider));
                CREATE INDEX session_pins_by_client ON session_pins (client_id);
                CREATE SEQUENCE lease_tokens;
                CREATE INDEX jobs_waiting ON jobs (provider, priority DESC, created_time, id) WHERE status = 'WAITING';
                CREATE UNIQUE INDEX jobs_idempotency ON jobs (provider, idempotency_key)
                    WHERE idempotency_key IS NOT NULL;
                CREATE INDEX jobs_running ON jobs (provider, lease_expires) WHERE status = 'INPROCESS';
                CREATE INDEX jobs_finished ON jobs (provider, end_time) WHERE status IN ('COMPLETED', 'FAILED');
                CREATE INDEX jobs_created ON jobs (created_time);
                CREATE INDEX jobs_session ON jobs (session_id) WHERE session_id IS NOT NULL;
                """),
        // Statements that find one running job by provider and id are prepared, and a generic plan
        // took the (provider, lease_expires) index for them, scanning every running job of the
        // provider per completion. Keyed by lease expiry alone, the index no longer fits those
        // lookups, and the lease sweeps, which look across providers, read it in order.
        Step(
            version: 2, purpose: "running jobs indexed by lease expiry alone",
            sql: """
                DROP INDEX jobs_running;
                CREATE INDEX jobs_running_by_lease ON jobs (lease_expires) WHERE status = 'INPROCESS';
                """),
    ]

    static var latestVersion: Int { steps.last?.version ?? 0 }

    /// Creates the schema when absent and applies the missing steps, all in one transaction under
    /// the schema's migration lock. Refuses a schema written by a newer Assay.
    static func migrate(_ connection: PostgresConnection, schema: String, lockKey: Int32) throws {
        try connection.execute("BEGIN")
        do {
            try connection.query("SELECT pg_advisory_xact_lock($1::int, 2)", [.int(Int64(lockKey))], cached: false)
            try connection.execute(
                """
                CREATE SCHEMA IF NOT EXISTS \(PostgresStore.quoted(schema));
                CREATE TABLE IF NOT EXISTS assay_migrations (
                    version INTEGER PRIMARY KEY, purpose TEXT NOT NULL, applied_time BIGINT NOT NULL);
                """)
            let current = try connection.query("SELECT COALESCE(MAX(version), 0) FROM assay_migrations", cached: false)
                .int(0, 0)
            guard current <= latestVersion else {
                throw AssayError.internalError(
                    "The PostgreSQL schema '\(schema)' has version \(current), but this Assay knows only up to "
                        + "\(latestVersion); run a newer Assay.")
            }
            for step in steps where step.version > current {
                do {
                    try connection.execute(step.sql)
                } catch {
                    throw AssayError.internalError(
                        "Migrating PostgreSQL schema '\(schema)' to version \(step.version) (\(step.purpose)) "
                            + "failed: \(error); nothing was changed.")
                }
                try connection.query(
                    "INSERT INTO assay_migrations (version, purpose, applied_time) VALUES ($1, $2, $3)",
                    [.int(step.version), .text(step.purpose), .int(WallClock.nowMillis())], cached: false)
            }
            try connection.execute("COMMIT")
        } catch {
            if connection.isOpen { try? connection.execute("ROLLBACK") }
            throw error
        }
    }
}

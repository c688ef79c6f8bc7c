import AssayInfotable

/// Submitting jobs and reading them back. A submission is one write operation however many jobs it
/// carries, so a batch is stored entirely or not at all, and it shares its commit with whatever
/// other writes are queued at the time (group commit): that is how many small concurrent
/// submissions each get a durable reply without one fsync apiece.
extension SQLiteStore {
    static let jobColumns =
        "id, provider, model, status, priority, attempt, max_attempts, timeout_seconds, client_id, session_id, "
        + "created_time, start_time, end_time, last_updated, error_code, error_message, extra_params, custom_data, "
        + "idempotency_key, lease_token, lease_expires, not_before"

    /// Reads `jobColumns` starting at column `base`.
    static func decodeJob(_ row: SQLiteStatement, base: Int32 = 0) -> JobRecord {
        JobRecord(
            id: row.text(base + 0), provider: row.text(base + 1), model: row.text(base + 2),
            status: JobStatus(rawValue: row.text(base + 3)) ?? .failed, priority: row.int(base + 4),
            attempt: row.int(base + 5),
            maxAttempts: row.int(base + 6), timeoutSeconds: row.double(base + 7), clientId: row.optionalText(base + 8),
            sessionId: row.optionalText(base + 9), createdTime: row.int64(base + 10),
            startTime: row.optionalInt64(base + 11),
            endTime: row.optionalInt64(base + 12), lastUpdated: row.int64(base + 13),
            errorCode: row.optionalText(base + 14),
            errorMessage: row.optionalText(base + 15), extraParamsJSON: row.text(base + 16),
            customDataJSON: row.optionalText(base + 17),
            idempotencyKey: row.optionalText(base + 18), leaseToken: row.optionalInt64(base + 19),
            leaseExpires: row.optionalInt64(base + 20), notBefore: row.optionalInt64(base + 21))
    }

    /// The job's internal row number and state.
    static func loadJob(_ c: SQLiteConnection, provider: String, id: String) throws -> (seq: Int64, job: JobRecord)? {
        try c.row("SELECT seq, \(jobColumns) FROM jobs WHERE provider = ? AND id = ?", .text(provider), .text(id)) {
            row in
            (row.int64(0), decodeJob(row, base: 1))
        }
    }

    static func loadJob(_ c: SQLiteConnection, seq: Int64) throws -> JobRecord? {
        try c.row("SELECT \(jobColumns) FROM jobs WHERE seq = ?", .int(seq)) { decodeJob($0) }
    }

    static func jobSeq(_ c: SQLiteConnection, provider: String, id: String) throws -> Int64? {
        try c.row("SELECT seq FROM jobs WHERE provider = ? AND id = ?", .text(provider), .text(id)) { $0.int64(0) }
    }

    static func addError(
        _ c: SQLiteConnection, seq: Int64, attempt: Int, code: String, message: String, details: String, now: Millis
    ) throws {
        try c.run(
            "INSERT INTO job_errors (job_seq, attempt, error_code, error_message, details, timestamp) "
                + "VALUES (?, ?, ?, ?, ?, ?)", .int(seq), .of(attempt), .text(code), .text(message), .text(details),
            .int(now))
    }

    // MARK: - Submitting

    /// Checks that each job's provider and model exist inside the same transaction as the insert,
    /// so a job can never outlive a model deleted concurrently. Jobs that carry `finishedResult` or
    /// `failure` are stored finished (attempt 1, started and ended at their creation time).
    public func submit(_ jobs: [NewJob]) async throws -> [String] {
        guard !jobs.isEmpty else { return [] }
        return try await write { context in
            let c = context.connection
            var checked: Set<String> = []
            var ids: [String] = []
            ids.reserveCapacity(jobs.count)
            var waitingProviders: [String] = []
            for job in jobs {
                let modelKey = job.provider + "\u{0}" + job.model
                if !checked.contains(modelKey) {
                    let found = try c.row(
                        "SELECT 1 FROM models WHERE provider = ? AND name = ?", .text(job.provider), .text(job.model)
                    ) { _ in true }
                    if found == nil {
                        guard try Self.loadProvider(c, job.provider) != nil else {
                            throw AssayError.unknownProvider(job.provider)
                        }
                        throw AssayError.unknownModel(provider: job.provider, model: job.model)
                    }
                    checked.insert(modelKey)
                }
                if let key = job.idempotencyKey,
                    let existing = try c.row(
                        "SELECT id FROM jobs WHERE provider = ? AND idempotency_key = ?", .text(job.provider),
                        .text(key), read: { $0.text(0) })
                {
                    ids.append(existing)
                    continue
                }
                let status: JobStatus =
                    job.finishedResult != nil ? .completed : job.failure != nil ? .failed : .waiting
                let finishedAt: SQLValue = status == .waiting ? .null : .int(job.createdTime)
                do {
                    try c.run(
                        "INSERT INTO jobs (id, provider, model, status, priority, attempt, max_attempts, "
                            + "timeout_seconds, session_id, created_time, start_time, end_time, last_updated, "
                            + "error_code, error_message, extra_params, custom_data, idempotency_key) "
                            + "VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        .text(job.id), .text(job.provider), .text(job.model), .text(status.rawValue),
                        .of(job.priority), .of(job.maxAttempts), .double(job.timeoutSeconds), .of(job.sessionId),
                        .int(job.createdTime), finishedAt, finishedAt, .int(job.createdTime),
                        .of(job.failure?.errorCode), .of(job.failure?.message), .text(job.extraParamsJSON),
                        .of(job.customDataJSON), .of(job.idempotencyKey))
                } catch let error as SQLiteError where error.isConstraintViolation {
                    throw AssayError.conflict(
                        "Provider '\(job.provider)' already has a job with id '\(job.id)'; submit it with a new id.")
                }
                let seq = c.lastInsertRowID
                try c.run(
                    "INSERT INTO job_data (seq, input, results) VALUES (?, ?, ?)", .int(seq), .blob(job.input),
                    job.finishedResult.map { .blob($0) } ?? .null)
                if let failure = job.failure, job.finishedResult == nil {
                    try Self.addError(
                        c, seq: seq, attempt: 1, code: failure.errorCode, message: failure.message,
                        details: failure.details, now: job.createdTime)
                }
                if status == .waiting {
                    if !waitingProviders.contains(job.provider) { waitingProviders.append(job.provider) }
                } else {
                    context.announce(.jobChanged(provider: job.provider, jobId: job.id))
                }
                ids.append(job.id)
            }
            for provider in waitingProviders { context.announce(.jobsAvailable(provider: provider)) }
            return ids
        }
    }

    // MARK: - Reading

    public func job(provider: String, id: String) async throws -> JobRecord? {
        try await read { c in
            try c.row("SELECT \(Self.jobColumns) FROM jobs WHERE provider = ? AND id = ?", .text(provider), .text(id)) {
                Self.decodeJob($0)
            }
        }
    }

    public func jobs(provider: String, ids: [String]) async throws -> [JobRecord] {
        guard !ids.isEmpty else { return [] }
        let list = JSON.string(.array(ids.map { .string($0) }))
        return try await read { c in
            try c.rows(
                "SELECT \(Self.jobColumns) FROM jobs WHERE provider = ? AND id IN (SELECT value FROM json_each(?))",
                .text(provider), .text(list)
            ) { Self.decodeJob($0) }
        }
    }

    public func jobInput(provider: String, id: String) async throws -> [UInt8]? {
        try await read { c in
            try c.row(
                "SELECT d.input FROM jobs j JOIN job_data d ON d.seq = j.seq WHERE j.provider = ? AND j.id = ?",
                .text(provider), .text(id)
            ) { $0.blob(0) }
        }
    }

    public func jobResults(provider: String, id: String) async throws -> [UInt8]? {
        try await read { c in
            let results = try c.row(
                "SELECT d.results FROM jobs j JOIN job_data d ON d.seq = j.seq "
                    + "WHERE j.provider = ? AND j.id = ? AND j.status = 'COMPLETED'", .text(provider), .text(id)
            ) { $0.optionalBlob(0) }
            return results ?? nil
        }
    }

    public func jobErrors(provider: String, id: String) async throws -> [JobErrorRecord] {
        try await read { c in
            try c.rows(
                "SELECT e.attempt, e.error_code, e.error_message, e.details, e.timestamp FROM jobs j "
                    + "JOIN job_errors e ON e.job_seq = j.seq WHERE j.provider = ? AND j.id = ? ORDER BY e.rowid",
                .text(provider), .text(id)
            ) { row in
                JobErrorRecord(
                    jobId: id, attempt: row.int(0), errorCode: row.text(1), errorMessage: row.text(2),
                    details: row.text(3), timestamp: row.int64(4))
            }
        }
    }

    public func jobFiles(provider: String, id: String) async throws -> [FileInfo] {
        try await read { c in
            try c.rows(
                "SELECT f.name, f.content_type, f.size FROM jobs j JOIN job_files f ON f.job_seq = j.seq "
                    + "WHERE j.provider = ? AND j.id = ? ORDER BY f.name", .text(provider), .text(id)
            ) { FileInfo(name: $0.text(0), contentType: $0.text(1), size: $0.int64(2)) }
        }
    }

    public func jobFile(provider: String, id: String, name: String) async throws -> (FileInfo, [UInt8])? {
        let found = try await read { c in
            try c.row(
                "SELECT f.name, f.content_type, f.size, f.data FROM jobs j JOIN job_files f ON f.job_seq = j.seq "
                    + "WHERE j.provider = ? AND j.id = ? AND f.name = ?", .text(provider), .text(id), .text(name)
            ) {
                FoundFile(
                    info: FileInfo(name: $0.text(0), contentType: $0.text(1), size: $0.int64(2)), data: $0.blob(3))
            }
        }
        return found.map { ($0.info, $0.data) }
    }
}

/// A tuple is not Sendable across the reader thread; this is.
struct FoundFile: Sendable {
    var info: FileInfo
    var data: [UInt8]
}

import AssayInfotable

/// Submitting jobs and reading them back. A submission is one operation however many jobs it
/// carries, so a batch is stored entirely or not at all, and the writers commit it together with
/// whatever else is queued (group commit).
extension PostgresStore {
    static let jobColumns =
        "id, provider, model, status, priority, attempt, max_attempts, timeout_seconds, client_id, session_id, "
        + "created_time, start_time, end_time, last_updated, error_code, error_message, extra_params, custom_data, "
        + "idempotency_key, lease_token, lease_expires, not_before"

    /// `jobColumns` of the `jobs` table, for statements that join another relation.
    static let qualifiedJobColumns = jobColumns.split(separator: ",").map {
        "jobs." + $0.trimmingPrefix(" ")
    }.joined(separator: ", ")

    /// Reads `jobColumns` of row `i` starting at column `base`.
    static func decodeJob(_ r: PostgresResult, _ i: Int, base: Int = 0) -> JobRecord {
        JobRecord(
            id: r.text(i, base + 0), provider: r.text(i, base + 1), model: r.text(i, base + 2),
            status: JobStatus(rawValue: r.text(i, base + 3)) ?? .failed, priority: r.int(i, base + 4),
            attempt: r.int(i, base + 5), maxAttempts: r.int(i, base + 6), timeoutSeconds: r.double(i, base + 7),
            clientId: r.optionalText(i, base + 8), sessionId: r.optionalText(i, base + 9),
            createdTime: r.int64(i, base + 10), startTime: r.optionalInt64(i, base + 11),
            endTime: r.optionalInt64(i, base + 12), lastUpdated: r.int64(i, base + 13),
            errorCode: r.optionalText(i, base + 14), errorMessage: r.optionalText(i, base + 15),
            extraParamsJSON: r.text(i, base + 16), customDataJSON: r.optionalText(i, base + 17),
            idempotencyKey: r.optionalText(i, base + 18), leaseToken: r.optionalInt64(i, base + 19),
            leaseExpires: r.optionalInt64(i, base + 20), notBefore: r.optionalInt64(i, base + 21))
    }

    /// The job's internal row number and state.
    static func loadJob(
        _ c: PostgresConnection, provider: String, id: String, lock: String = ""
    ) throws -> (seq: Int64, job: JobRecord)? {
        let r = try c.query(
            "SELECT seq, \(jobColumns) FROM jobs WHERE provider = $1 AND id = $2 \(lock)", [.text(provider), .text(id)])
        return r.count > 0 ? (r.int64(0, 0), decodeJob(r, 0, base: 1)) : nil
    }

    static func addError(
        _ c: PostgresConnection, seq: Int64, attempt: Int, code: String, message: String, details: String, now: Millis
    ) throws {
        try c.run(
            "INSERT INTO job_errors (job_seq, attempt, error_code, error_message, details, timestamp) "
                + "VALUES ($1, $2, $3, $4, $5, $6)",
            [.int(seq), .int(attempt), .text(code), .text(message), .text(details), .int(now)])
    }

    // MARK: - Submitting

    /// Each job's model is locked against deletion (`FOR KEY SHARE`) in the transaction that
    /// inserts the job, so a job can never outlive a model deleted concurrently by another server.
    /// An idempotency key already used by the provider returns that job's id; two servers racing
    /// with the same key meet at the unique index, and the later one returns the earlier's id.
    public func submit(_ jobs: [NewJob]) async throws -> [String] {
        guard !jobs.isEmpty else { return [] }
        return try await write { context in
            let c = context.connection
            for job in jobs {
                let modelKey = job.provider + "\u{0}" + job.model
                guard !context.memo.lockedModels.contains(modelKey) else { continue }
                let found = try c.query(
                    "SELECT 1 FROM models WHERE provider = $1 AND name = $2 FOR KEY SHARE",
                    [.text(job.provider), .text(job.model)])
                if found.count == 0 {
                    guard try Self.loadProvider(c, job.provider) != nil else {
                        throw AssayError.unknownProvider(job.provider)
                    }
                    throw AssayError.unknownModel(provider: job.provider, model: job.model)
                }
                context.memo.lockedModels.insert(modelKey)
            }
            var ids: [String] = []
            ids.reserveCapacity(jobs.count)
            var waitingProviders: [String] = []
            for job in jobs {
                let status: JobStatus =
                    job.finishedResult != nil ? .completed : job.failure != nil ? .failed : .waiting
                let finishedAt: PostgresValue = status == .waiting ? .null : .int(job.createdTime)
                let inserted: PostgresResult
                do {
                    inserted = try c.query(
                        "INSERT INTO jobs (id, provider, model, status, priority, attempt, max_attempts, timeout_seconds, "
                            + "session_id, created_time, start_time, end_time, last_updated, error_code, error_message, "
                            + "extra_params, custom_data, idempotency_key, input, results) "
                            + "VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
                            + "$19) ON CONFLICT (provider, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
                            + "RETURNING seq",
                        [
                            .text(job.id), .text(job.provider), .text(job.model), .text(status.rawValue),
                            .int(job.priority), .int(job.maxAttempts), .double(job.timeoutSeconds), .of(job.sessionId),
                            .int(job.createdTime), finishedAt, finishedAt, .int(job.createdTime),
                            .of(job.failure?.errorCode), .of(job.failure?.message), .text(job.extraParamsJSON),
                            .of(job.customDataJSON), .of(job.idempotencyKey), .bytes(job.input),
                            .of(job.finishedResult),
                        ])
                } catch let error as PostgresError where error.isUniqueViolation {
                    throw AssayError.conflict(
                        "Provider '\(job.provider)' already has a job with id '\(job.id)'; submit it with a new id.")
                }
                guard inserted.count > 0 else {
                    let existing = try c.query(
                        "SELECT id FROM jobs WHERE provider = $1 AND idempotency_key = $2",
                        [.text(job.provider), .of(job.idempotencyKey)])
                    guard existing.count > 0 else {
                        throw AssayError.storeUnavailable(
                            "A job with the same idempotency key was being stored at the same time; retry.")
                    }
                    ids.append(existing.text(0, 0))
                    continue
                }
                let seq = inserted.int64(0, 0)
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
            let r = try c.query(
                "SELECT \(Self.jobColumns) FROM jobs WHERE provider = $1 AND id = $2", [.text(provider), .text(id)])
            return r.count > 0 ? Self.decodeJob(r, 0) : nil
        }
    }

    public func jobs(provider: String, ids: [String]) async throws -> [JobRecord] {
        guard !ids.isEmpty else { return [] }
        return try await read { c in
            let r = try c.query(
                "SELECT \(Self.jobColumns) FROM jobs WHERE provider = $1 AND id = ANY($2::text[])",
                [.text(provider), .textArray(ids)])
            return (0..<r.count).map { Self.decodeJob(r, $0) }
        }
    }

    public func jobInput(provider: String, id: String) async throws -> [UInt8]? {
        try await read { c in
            let r = try c.query(
                "SELECT input FROM jobs WHERE provider = $1 AND id = $2", [.text(provider), .text(id)])
            return r.count > 0 ? r.bytes(0, 0) : nil
        }
    }

    public func jobResults(provider: String, id: String) async throws -> [UInt8]? {
        try await read { c in
            let r = try c.query(
                "SELECT results FROM jobs WHERE provider = $1 AND id = $2 AND status = 'COMPLETED'",
                [.text(provider), .text(id)])
            return r.count > 0 ? r.optionalBytes(0, 0) : nil
        }
    }

    public func jobErrors(provider: String, id: String) async throws -> [JobErrorRecord] {
        try await read { c in
            let r = try c.query(
                "SELECT e.attempt, e.error_code, e.error_message, e.details, e.timestamp FROM jobs j "
                    + "JOIN job_errors e ON e.job_seq = j.seq WHERE j.provider = $1 AND j.id = $2 ORDER BY e.id",
                [.text(provider), .text(id)])
            return (0..<r.count).map { i in
                JobErrorRecord(
                    jobId: id, attempt: r.int(i, 0), errorCode: r.text(i, 1), errorMessage: r.text(i, 2),
                    details: r.text(i, 3), timestamp: r.int64(i, 4))
            }
        }
    }

    public func jobFiles(provider: String, id: String) async throws -> [FileInfo] {
        try await read { c in
            let r = try c.query(
                "SELECT f.name, f.content_type, f.size FROM jobs j JOIN job_files f ON f.job_seq = j.seq "
                    + "WHERE j.provider = $1 AND j.id = $2 ORDER BY f.name", [.text(provider), .text(id)])
            return (0..<r.count).map { FileInfo(name: r.text($0, 0), contentType: r.text($0, 1), size: r.int64($0, 2)) }
        }
    }

    public func jobFile(provider: String, id: String, name: String) async throws -> (FileInfo, [UInt8])? {
        let found = try await read { c -> FoundFile? in
            let r = try c.query(
                "SELECT f.name, f.content_type, f.size, f.data FROM jobs j JOIN job_files f ON f.job_seq = j.seq "
                    + "WHERE j.provider = $1 AND j.id = $2 AND f.name = $3", [.text(provider), .text(id), .text(name)])
            guard r.count > 0 else { return nil }
            return FoundFile(
                info: FileInfo(name: r.text(0, 0), contentType: r.text(0, 1), size: r.int64(0, 2)), data: r.bytes(0, 3))
        }
        return found.map { ($0.info, $0.data) }
    }
}

import AssayInfotable

/// The job state machine on PostgreSQL: claims, leases, completion, failure, retry and the
/// maintenance sweeps. Each method is one transaction, and each change is made by a statement
/// whose WHERE clause re-checks the state it changes (READ COMMITTED re-evaluates it on the
/// newest row version), so servers racing for the same job cannot both win: a fencing token is
/// checked by the UPDATE that applies its result, and a rescue skips a job that was completed
/// meanwhile.
///
/// Delayed retries are announced when they come due by `PostgresCluster`'s notices.
extension PostgresStore {
    // MARK: - Claiming

    public func claim(
        provider: String, clientId: String, models: [String], max: Int, leaseSeconds: Double, now: Millis
    ) async throws -> [ClaimedJob] {
        guard max > 0, !models.isEmpty else { return [] }
        let modelList = JSON.string(.array(models.map { .string($0) }))
        let leaseExpires = now + Millis(leaseSeconds * 1000)
        return try await write { context in
            let c = context.connection
            guard let settings = try Self.loadProvider(c, provider) else { throw AssayError.unknownProvider(provider) }
            // Claiming is contact: an agent that claims is alive, so its sessions must not be taken
            // away. The row is written at most once a second, since every claim and heartbeat of
            // the agent would otherwise queue on its lock.
            let contact = try c.query("SELECT last_heartbeat FROM clients WHERE client_id = $1", [.text(clientId)])
            if contact.count == 0 || contact.int64(0, 0) < now - 1000 {
                try c.run(
                    "INSERT INTO clients (client_id, provider, host_name, models, capacity, running_jobs, "
                        + "last_heartbeat, health) VALUES ($1, $2, '', $3, 0, 0, $4, '{}') ON CONFLICT (client_id) "
                        + "DO UPDATE SET last_heartbeat = GREATEST(clients.last_heartbeat, excluded.last_heartbeat)",
                    [.text(clientId), .text(provider), .text(modelList), .int(now)])
            }
            var allowed = max
            if settings.maxConcurrentJobs > 0 {
                // The provider's row lock orders capped claims across servers; the count, a new
                // statement, then sees every claim committed before.
                try c.query("SELECT 1 FROM providers WHERE name = $1 FOR UPDATE", [.text(provider)])
                let running = try c.query(
                    "SELECT COUNT(*) FROM jobs WHERE provider = $1 AND status = 'INPROCESS'", [.text(provider)]
                ).int(0, 0)
                allowed = Swift.min(allowed, settings.maxConcurrentJobs - running)
            }
            guard allowed > 0 else { return [] }
            let candidates = try c.query(
                "SELECT seq, session_id FROM jobs j WHERE provider = $1 AND status = 'WAITING' "
                    + "AND (not_before IS NULL OR not_before <= $2) AND model = ANY($3::text[]) "
                    + "AND (session_id IS NULL OR NOT EXISTS (SELECT 1 FROM session_pins p "
                    + "WHERE p.session_id = j.session_id AND p.provider = j.provider AND p.client_id <> $4)) "
                    + "ORDER BY priority DESC, created_time, id LIMIT $5 FOR UPDATE SKIP LOCKED",
                [.text(provider), .int(now), .textArray(models), .text(clientId), .int(allowed)])
            guard candidates.count > 0 else { return [] }
            var seqs: [Int64] = []
            for i in 0..<candidates.count {
                let seq = candidates.int64(i, 0)
                if let session = candidates.optionalText(i, 1) {
                    // Pin first, then read the pin back: a server that pinned the session to another
                    // agent a moment ago wins, and this job stays WAITING for that agent.
                    try c.run(
                        "INSERT INTO session_pins (session_id, provider, client_id) SELECT $1, $2, $3 "
                            + "WHERE EXISTS (SELECT 1 FROM sessions WHERE session_id = $1 AND stateful) "
                            + "ON CONFLICT DO NOTHING", [.text(session), .text(provider), .text(clientId)])
                    let pin = try c.query(
                        "SELECT client_id FROM session_pins WHERE session_id = $1 AND provider = $2",
                        [.text(session), .text(provider)])
                    if pin.count > 0 && pin.text(0, 0) != clientId { continue }
                }
                seqs.append(seq)
            }
            guard !seqs.isEmpty else { return [] }
            // Tokens are drawn in the order the jobs were chosen (the array's), so they increase
            // along the claim order.
            let updated = try c.query(
                "UPDATE jobs SET status = 'INPROCESS', client_id = $1, start_time = $2, lease_token = t.token, "
                    + "lease_expires = $3, not_before = NULL, end_time = NULL, last_updated = $2 "
                    + "FROM (SELECT u.seq, nextval('lease_tokens') AS token "
                    + "FROM unnest($4::bigint[]) WITH ORDINALITY AS u(seq, ord)) t "
                    + "WHERE jobs.seq = t.seq RETURNING jobs.seq, jobs.input, \(Self.qualifiedJobColumns)",
                [.text(clientId), .int(now), .int(leaseExpires), .intArray(seqs)])
            try c.run("DELETE FROM job_files WHERE job_seq = ANY($1::bigint[])", [.intArray(seqs)])
            var claimed: [ClaimedJob] = []
            for i in 0..<updated.count {
                let job = Self.decodeJob(updated, i, base: 2)
                claimed.append(ClaimedJob(job: job, token: job.leaseToken ?? 0, input: updated.bytes(i, 1)))
            }
            // RETURNING keeps no order: hand the jobs out as they were chosen.
            claimed.sort { a, b in
                a.job.priority != b.job.priority
                    ? a.job.priority > b.job.priority
                    : a.job.createdTime != b.job.createdTime
                        ? a.job.createdTime < b.job.createdTime : a.job.id < b.job.id
            }
            return claimed
        }
    }

    // MARK: - Leases

    public func heartbeat(
        client: ClientRecord, attempts: [AttemptRef], leaseSeconds: Double, now: Millis
    ) async throws -> [AttemptRef] {
        let leaseExpires = now + Millis(leaseSeconds * 1000)
        return try await write { context in
            let c = context.connection
            try c.run(
                "INSERT INTO clients (client_id, provider, host_name, models, capacity, running_jobs, last_heartbeat, "
                    + "health) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (client_id) DO UPDATE SET "
                    + "provider = excluded.provider, host_name = excluded.host_name, models = excluded.models, "
                    + "capacity = excluded.capacity, running_jobs = excluded.running_jobs, "
                    + "last_heartbeat = excluded.last_heartbeat, health = excluded.health",
                [
                    .text(client.clientId), .text(client.provider), .text(client.hostName), .text(client.modelsJSON),
                    .int(client.capacity), .int(client.runningJobs), .int(now), .text(client.healthJSON),
                ])
            guard !attempts.isEmpty else { return [] }
            // Sorted, so that two heartbeats touching the same jobs lock them in the same order.
            let sorted = attempts.sorted { $0.jobId < $1.jobId }
            let renewed = try c.query(
                "UPDATE jobs j SET lease_expires = $1 FROM unnest($3::text[], $4::bigint[]) AS a(id, token) "
                    + "WHERE j.provider = $2 AND j.id = a.id AND j.status = 'INPROCESS' AND j.lease_token = a.token "
                    + "RETURNING j.id, j.lease_token",
                [
                    .int(leaseExpires), .text(client.provider), .textArray(sorted.map(\.jobId)),
                    .intArray(sorted.map(\.token)),
                ])
            var held: Set<AttemptRef> = []
            for i in 0..<renewed.count {
                held.insert(AttemptRef(jobId: renewed.text(i, 0), token: renewed.int64(i, 1)))
            }
            return attempts.filter { !held.contains($0) }
        }
    }

    /// The job if `token` still holds it (locked for the rest of the transaction); otherwise
    /// `UNKNOWN_JOB` or `LEASE_LOST`.
    static func heldJob(
        _ c: PostgresConnection, provider: String, jobId: String, token: Int64
    ) throws -> (seq: Int64, job: JobRecord) {
        guard let found = try loadJob(c, provider: provider, id: jobId, lock: "FOR UPDATE") else {
            throw AssayError.unknownJob(provider: provider, jobId: jobId)
        }
        guard found.job.status == .inProcess, found.job.leaseToken == token else {
            let attempt =
                found.job.status == .inProcess || found.job.status == .waiting
                ? Swift.max(found.job.attempt - 1, 1) : found.job.attempt
            throw AssayError.leaseLost(jobId: jobId, attempt: attempt)
        }
        return found
    }

    public func putResultFile(
        provider: String, jobId: String, token: Int64, file: FileInfo, data: [UInt8], now: Millis
    ) async throws {
        try await write { context in
            let c = context.connection
            let held = try Self.heldJob(c, provider: provider, jobId: jobId, token: token)
            try c.run(
                "INSERT INTO job_files (job_seq, name, content_type, size, data) VALUES ($1, $2, $3, $4, $5) "
                    + "ON CONFLICT (job_seq, name) DO UPDATE SET content_type = excluded.content_type, "
                    + "size = excluded.size, data = excluded.data",
                [.int(held.seq), .text(file.name), .text(file.contentType), .int(Int64(data.count)), .bytes(data)])
            try c.run("UPDATE jobs SET last_updated = $1 WHERE seq = $2", [.int(now), .int(held.seq)])
        }
    }

    // MARK: - Finishing

    /// Completions that arrive together are applied together, by one statement that checks each
    /// job's token (`PostgresCompletions`); only a refused token costs a second look.
    public func complete(
        provider: String, jobId: String, token: Int64, results: [UInt8], now: Millis
    ) async throws -> JobRecord {
        try await completions.complete(
            PostgresCompletions.Completion(provider: provider, jobId: jobId, token: token, results: results, now: now),
            store: self)
    }

    public func fail(
        provider: String, jobId: String, token: Int64, failure: JobFailure, now: Millis
    ) async throws -> JobRecord {
        try await write { context in
            let held = try Self.heldJob(context.connection, provider: provider, jobId: jobId, token: token)
            return try Self.applyFailure(context, seq: held.seq, job: held.job, failure: failure, now: now)
        }
    }

    /// Ends the running attempt of `job` with `failure`: an error row, then WAITING for the next
    /// attempt after the backoff (retryable with attempts left) or FAILED.
    static func applyFailure(
        _ context: PostgresPool.Context, seq: Int64, job: JobRecord, failure: JobFailure, now: Millis
    ) throws -> JobRecord {
        let c = context.connection
        try addError(
            c, seq: seq, attempt: job.attempt, code: failure.errorCode, message: failure.message,
            details: failure.details, now: now)
        let r: PostgresResult
        if failure.retryable && job.attempt < job.maxAttempts {
            let notBefore = now + RetryPolicy.delayMillis(afterAttempt: job.attempt)
            r = try c.query(
                "UPDATE jobs SET status = 'WAITING', attempt = attempt + 1, not_before = $1, client_id = NULL, "
                    + "start_time = NULL, lease_token = NULL, lease_expires = NULL, error_code = $2, "
                    + "error_message = $3, last_updated = $4 WHERE seq = $5 RETURNING \(jobColumns)",
                [.int(notBefore), .text(failure.errorCode), .text(failure.message), .int(now), .int(seq)])
            context.announceJobsAvailable(provider: job.provider, at: notBefore)
        } else {
            r = try c.query(
                "UPDATE jobs SET status = 'FAILED', end_time = $1, error_code = $2, error_message = $3, "
                    + "lease_token = NULL, lease_expires = NULL, last_updated = $1 WHERE seq = $4 "
                    + "RETURNING \(jobColumns)",
                [.int(now), .text(failure.errorCode), .text(failure.message), .int(seq)])
        }
        context.announce(.jobChanged(provider: job.provider, jobId: job.id))
        if job.status == .inProcess { try announceFreedSlot(context, provider: job.provider) }
        return r.count > 0 ? decodeJob(r, 0) : job
    }

    /// On a capped provider a finished attempt frees a slot that waiting jobs may be held back for.
    static func announceFreedSlot(_ context: PostgresPool.Context, provider: String) throws {
        let r = try context.connection.query("SELECT max_concurrent FROM providers WHERE name = $1", [.text(provider)])
        if r.count > 0 && r.int(0, 0) > 0 { context.announce(.jobsAvailable(provider: provider)) }
    }

    public func retry(provider: String, jobId: String, now: Millis) async throws -> JobRecord {
        try await write { context in
            let c = context.connection
            guard let (seq, job) = try Self.loadJob(c, provider: provider, id: jobId, lock: "FOR UPDATE") else {
                throw AssayError.unknownJob(provider: provider, jobId: jobId)
            }
            guard job.status == .failed || job.status == .inProcess else {
                throw AssayError.jobNotRetryable(jobId: jobId, status: job.status.rawValue)
            }
            if job.status == .inProcess {
                try Self.addError(
                    c, seq: seq, attempt: job.attempt, code: "ABANDONED",
                    message: "Attempt \(job.attempt) was abandoned by RetryJob; its result will be refused.",
                    details: job.clientId.map { "Was running on agent '\($0)'." } ?? "", now: now)
            }
            let r = try c.query(
                "UPDATE jobs SET status = 'WAITING', attempt = attempt + 1, not_before = NULL, client_id = NULL, "
                    + "start_time = NULL, end_time = NULL, lease_token = NULL, lease_expires = NULL, "
                    + "last_updated = $1 WHERE seq = $2 RETURNING \(Self.jobColumns)", [.int(now), .int(seq)])
            context.announce(.jobChanged(provider: provider, jobId: jobId))
            context.announce(.jobsAvailable(provider: provider))
            return r.count > 0 ? Self.decodeJob(r, 0) : job
        }
    }

    // MARK: - Maintenance

    /// Locks the expired jobs it takes (skipping any a report is finishing right now), so two
    /// servers that briefly both believe they hold the maintenance role cannot rescue one twice.
    public func rescueExpiredLeases(now: Millis) async throws -> [JobRecord] {
        try await write { context in
            let c = context.connection
            let expired = try c.query(
                "SELECT seq, \(Self.jobColumns) FROM jobs WHERE status = 'INPROCESS' AND lease_expires < $1 "
                    + "ORDER BY lease_expires LIMIT 1000 FOR UPDATE SKIP LOCKED", [.int(now)])
            return try (0..<expired.count).map { i in
                let seq = expired.int64(i, 0)
                let job = Self.decodeJob(expired, i, base: 1)
                let failure = JobFailure(
                    errorCode: "LEASE_EXPIRED",
                    message: "Attempt \(job.attempt) lost its lease: agent '\(job.clientId ?? "?")' stopped "
                        + "sending heartbeats.",
                    details: "The lease ran out at \(job.leaseExpires ?? 0) ms since the epoch.", retryable: true)
                return try Self.applyFailure(context, seq: seq, job: job, failure: failure, now: now)
            }
        }
    }

    public func expireClients(leaseSeconds: Double, now: Millis) async throws -> [JobRecord] {
        let cutoff = now - Millis(leaseSeconds * 1000)
        return try await write { context in
            let c = context.connection
            try c.run("DELETE FROM clients WHERE last_heartbeat < $1", [.int(cutoff)])
            let lost = try c.query(
                "SELECT DISTINCT session_id FROM session_pins p "
                    + "WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.client_id = p.client_id)")
            var failed: [JobRecord] = []
            for s in 0..<lost.count {
                let session = lost.text(s, 0)
                let waiting = try c.query(
                    "SELECT seq, \(Self.jobColumns) FROM jobs WHERE session_id = $1 AND status = 'WAITING' "
                        + "ORDER BY created_time FOR UPDATE", [.text(session)])
                for i in 0..<waiting.count {
                    let failure = JobFailure(
                        errorCode: "SESSION_LOST",
                        message: "The agent of stateful session '\(session)' was lost; the session ended and its "
                            + "waiting jobs failed. Start a new session and submit them again.")
                    failed.append(
                        try Self.applyFailure(
                            context, seq: waiting.int64(i, 0), job: Self.decodeJob(waiting, i, base: 1),
                            failure: failure, now: now))
                }
                try Self.endSession(c, session)
            }
            return failed
        }
    }

    /// Deletes in chunks, each its own transaction, so a large backlog never holds a writer long.
    public func purgeFinishedJobs(now: Millis) async throws -> Int {
        let chunk = 2000
        var total = 0
        let providers = try await providers().filter { $0.purgeJobsAgeHours > 0 }
        for provider in providers {
            let cutoff = now - Millis(provider.purgeJobsAgeHours * 3_600_000)
            while true {
                let deleted = try await write { context in
                    let c = context.connection
                    let r = try c.query(
                        "SELECT seq FROM jobs WHERE status IN ('COMPLETED', 'FAILED') AND end_time < $1 "
                            + "AND provider = $2 LIMIT $3 FOR UPDATE SKIP LOCKED",
                        [.int(cutoff), .text(provider.name), .int(chunk)])
                    guard r.count > 0 else { return 0 }
                    let seqs = PostgresValue.intArray((0..<r.count).map { r.int64($0, 0) })
                    try c.run("DELETE FROM job_errors WHERE job_seq = ANY($1::bigint[])", [seqs])
                    try c.run("DELETE FROM job_files WHERE job_seq = ANY($1::bigint[])", [seqs])
                    try c.run("DELETE FROM jobs WHERE seq = ANY($1::bigint[])", [seqs])
                    return r.count
                }
                total += deleted
                if deleted < chunk { break }
            }
        }
        return total
    }
}

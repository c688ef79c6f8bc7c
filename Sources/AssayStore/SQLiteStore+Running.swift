import AssayInfotable

/// The job state machine: claims, leases, completion, failure, retry and the maintenance sweeps.
/// Each method is one write operation, so every transition reads and changes the job inside one
/// transaction on the single writer: no two claims can see the same WAITING job, and a fencing
/// token is checked in the same transaction that applies its result.
///
/// Events: `.jobsAvailable` when jobs become runnable (submitted, retried without delay, a
/// concurrency slot freed on a capped provider); delayed retries are announced by the writer when
/// their `notBefore` arrives. `.jobChanged` whenever a job finishes or goes back to WAITING.
extension SQLiteStore {
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
            // Claiming is contact: an agent that claims (even before its first heartbeat, even when
            // nothing is runnable) is alive, so `expireClients` must not take its sessions away.
            try c.run(
                "INSERT INTO clients (client_id, provider, host_name, models, capacity, running_jobs, "
                    + "last_heartbeat, health) VALUES (?, ?, '', ?, 0, 0, ?, '{}') ON CONFLICT (client_id) "
                    + "DO UPDATE SET last_heartbeat = MAX(last_heartbeat, excluded.last_heartbeat)",
                .text(clientId), .text(provider), .text(modelList), .int(now))
            var allowed = max
            if settings.maxConcurrentJobs > 0 {
                let running =
                    try c.row(
                        "SELECT COUNT(*) FROM jobs WHERE provider = ? AND status = 'INPROCESS'", .text(provider)
                    ) { $0.int(0) } ?? 0
                allowed = min(allowed, settings.maxConcurrentJobs - running)
            }
            guard allowed > 0 else { return [] }
            // Walks the claim index in priority/age order; the pin test skips sessions held elsewhere.
            let candidates = try c.rows(
                "SELECT seq, session_id FROM jobs j WHERE provider = ? AND status = 'WAITING' "
                    + "AND (not_before IS NULL OR not_before <= ?) AND model IN (SELECT value FROM json_each(?)) "
                    + "AND (session_id IS NULL OR NOT EXISTS (SELECT 1 FROM session_pins p "
                    + "WHERE p.session_id = j.session_id AND p.provider = j.provider AND p.client_id <> ?)) "
                    + "ORDER BY priority DESC, created_time ASC, id ASC LIMIT ?",
                .text(provider), .int(now), .text(modelList), .text(clientId), .of(allowed)
            ) { (seq: $0.int64(0), session: $0.optionalText(1)) }
            guard !candidates.isEmpty else { return [] }

            let lastToken =
                try c.row(
                    "UPDATE counters SET value = value + ? WHERE name = 'lease_token' RETURNING value",
                    .of(candidates.count)
                ) { $0.int64(0) } ?? 0
            var token = lastToken - Int64(candidates.count)
            var claimed: [ClaimedJob] = []
            for candidate in candidates {
                token += 1
                try c.run(
                    "UPDATE jobs SET status = 'INPROCESS', client_id = ?, start_time = ?, lease_token = ?, "
                        + "lease_expires = ?, not_before = NULL, end_time = NULL, last_updated = ? WHERE seq = ?",
                    .text(clientId), .int(now), .int(token), .int(leaseExpires), .int(now), .int(candidate.seq))
                try c.run("DELETE FROM job_files WHERE job_seq = ?", .int(candidate.seq))
                if let session = candidate.session {
                    try c.run(
                        "INSERT OR IGNORE INTO session_pins (session_id, provider, client_id) "
                            + "SELECT ?, ?, ? WHERE EXISTS "
                            + "(SELECT 1 FROM sessions WHERE session_id = ? AND stateful = 1)",
                        .text(session), .text(provider), .text(clientId), .text(session))
                }
                guard let job = try Self.loadJob(c, seq: candidate.seq) else { continue }
                let input = try c.row("SELECT input FROM job_data WHERE seq = ?", .int(candidate.seq)) { $0.blob(0) }
                claimed.append(ClaimedJob(job: job, token: token, input: input ?? []))
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
                    + "health) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
                    + "provider = excluded.provider, host_name = excluded.host_name, models = excluded.models, "
                    + "capacity = excluded.capacity, running_jobs = excluded.running_jobs, "
                    + "last_heartbeat = excluded.last_heartbeat, health = excluded.health",
                .text(client.clientId), .text(client.provider), .text(client.hostName), .text(client.modelsJSON),
                .of(client.capacity), .of(client.runningJobs), .int(now), .text(client.healthJSON))
            var lost: [AttemptRef] = []
            for attempt in attempts {
                let renewed = try c.run(
                    "UPDATE jobs SET lease_expires = ? WHERE provider = ? AND id = ? AND status = 'INPROCESS' "
                        + "AND lease_token = ?", .int(leaseExpires), .text(client.provider), .text(attempt.jobId),
                    .int(attempt.token))
                if renewed == 0 { lost.append(attempt) }
            }
            return lost
        }
    }

    /// The job if `token` still holds it; otherwise `UNKNOWN_JOB` or `LEASE_LOST`.
    static func heldJob(
        _ c: SQLiteConnection, provider: String, jobId: String, token: Int64
    ) throws -> (seq: Int64, job: JobRecord) {
        guard let found = try loadJob(c, provider: provider, id: jobId) else {
            throw AssayError.unknownJob(provider: provider, jobId: jobId)
        }
        guard found.job.status == .inProcess, found.job.leaseToken == token else {
            // The lease token names the attempt only while it runs; a later attempt has a later number.
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
                "INSERT INTO job_files (job_seq, name, content_type, size, data) VALUES (?, ?, ?, ?, ?) "
                    + "ON CONFLICT (job_seq, name) DO UPDATE SET content_type = excluded.content_type, "
                    + "size = excluded.size, data = excluded.data",
                .int(held.seq), .text(file.name), .text(file.contentType), .int(Int64(data.count)), .blob(data))
            try c.run("UPDATE jobs SET last_updated = ? WHERE seq = ?", .int(now), .int(held.seq))
        }
    }

    // MARK: - Finishing

    public func complete(
        provider: String, jobId: String, token: Int64, results: [UInt8], now: Millis
    ) async throws -> JobRecord {
        try await write { context in
            let c = context.connection
            let held = try Self.heldJob(c, provider: provider, jobId: jobId, token: token)
            try c.run("UPDATE job_data SET results = ? WHERE seq = ?", .blob(results), .int(held.seq))
            try c.run(
                "UPDATE jobs SET status = 'COMPLETED', end_time = ?, last_updated = ?, error_code = NULL, "
                    + "error_message = NULL, lease_token = NULL, lease_expires = NULL WHERE seq = ?",
                .int(now), .int(now), .int(held.seq))
            context.announce(.jobChanged(provider: provider, jobId: jobId))
            try Self.announceFreedSlot(context, provider: provider)
            return try Self.loadJob(c, seq: held.seq) ?? held.job
        }
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
        _ context: SQLiteWriter.Context, seq: Int64, job: JobRecord, failure: JobFailure, now: Millis
    ) throws -> JobRecord {
        let c = context.connection
        try addError(
            c, seq: seq, attempt: job.attempt, code: failure.errorCode, message: failure.message,
            details: failure.details, now: now)
        if failure.retryable && job.attempt < job.maxAttempts {
            let notBefore = now + RetryPolicy.delayMillis(afterAttempt: job.attempt)
            try c.run(
                "UPDATE jobs SET status = 'WAITING', attempt = attempt + 1, not_before = ?, client_id = NULL, "
                    + "start_time = NULL, lease_token = NULL, lease_expires = NULL, error_code = ?, "
                    + "error_message = ?, last_updated = ? WHERE seq = ?",
                .int(notBefore), .text(failure.errorCode), .text(failure.message), .int(now), .int(seq))
            context.announceJobsAvailable(provider: job.provider, at: notBefore)
        } else {
            try c.run(
                "UPDATE jobs SET status = 'FAILED', end_time = ?, error_code = ?, error_message = ?, "
                    + "lease_token = NULL, lease_expires = NULL, last_updated = ? WHERE seq = ?",
                .int(now), .text(failure.errorCode), .text(failure.message), .int(now), .int(seq))
        }
        context.announce(.jobChanged(provider: job.provider, jobId: job.id))
        if job.status == .inProcess { try announceFreedSlot(context, provider: job.provider) }
        return try loadJob(c, seq: seq) ?? job
    }

    /// On a capped provider a finished attempt frees a slot that waiting jobs may be held back for.
    static func announceFreedSlot(_ context: SQLiteWriter.Context, provider: String) throws {
        let cap = try context.connection.row("SELECT max_concurrent FROM providers WHERE name = ?", .text(provider)) {
            $0.int(0)
        }
        if let cap, cap > 0 { context.announce(.jobsAvailable(provider: provider)) }
    }

    public func retry(provider: String, jobId: String, now: Millis) async throws -> JobRecord {
        try await write { context in
            let c = context.connection
            guard let (seq, job) = try Self.loadJob(c, provider: provider, id: jobId) else {
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
            try c.run(
                "UPDATE jobs SET status = 'WAITING', attempt = attempt + 1, not_before = NULL, client_id = NULL, "
                    + "start_time = NULL, end_time = NULL, lease_token = NULL, lease_expires = NULL, "
                    + "last_updated = ? WHERE seq = ?", .int(now), .int(seq))
            context.announce(.jobChanged(provider: provider, jobId: jobId))
            context.announce(.jobsAvailable(provider: provider))
            return try Self.loadJob(c, seq: seq) ?? job
        }
    }

    // MARK: - Maintenance

    public func rescueExpiredLeases(now: Millis) async throws -> [JobRecord] {
        try await write { context in
            let c = context.connection
            let expired = try c.rows(
                "SELECT seq, \(Self.jobColumns) FROM jobs WHERE status = 'INPROCESS' AND lease_expires < ? "
                    + "ORDER BY lease_expires", .int(now)
            ) { (seq: $0.int64(0), job: Self.decodeJob($0, base: 1)) }
            return try expired.map { seq, job in
                let failure = JobFailure(
                    errorCode: "LEASE_EXPIRED",
                    message: "Attempt \(job.attempt) lost its lease: agent '\(job.clientId ?? "?")' stopped "
                        + "sending heartbeats.",
                    details: "The lease ran out at \(job.leaseExpires ?? 0) ms since the epoch.", retryable: true)
                return try Self.applyFailure(context, seq: seq, job: job, failure: failure, now: now)
            }
        }
    }

    /// A session pinned to an agent that is no longer known (expired now, or removed earlier with
    /// `removeClient`) is lost too: nothing else could ever run its waiting jobs.
    public func expireClients(leaseSeconds: Double, now: Millis) async throws -> [JobRecord] {
        let cutoff = now - Millis(leaseSeconds * 1000)
        return try await write { context in
            let c = context.connection
            try c.run("DELETE FROM clients WHERE last_heartbeat < ?", .int(cutoff))
            let lostSessions = try c.rows(
                "SELECT DISTINCT session_id FROM session_pins p "
                    + "WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.client_id = p.client_id)"
            ) { $0.text(0) }
            var failed: [JobRecord] = []
            for session in lostSessions {
                let waiting = try c.rows(
                    "SELECT seq, \(Self.jobColumns) FROM jobs WHERE session_id = ? AND status = 'WAITING' "
                        + "ORDER BY created_time", .text(session)
                ) { (seq: $0.int64(0), job: Self.decodeJob($0, base: 1)) }
                for (seq, job) in waiting {
                    let failure = JobFailure(
                        errorCode: "SESSION_LOST",
                        message: "The agent of stateful session '\(session)' was lost; the session ended and its "
                            + "waiting jobs failed. Start a new session and submit them again.")
                    failed.append(try Self.applyFailure(context, seq: seq, job: job, failure: failure, now: now))
                }
                try Self.endSession(c, session)
            }
            return failed
        }
    }

    /// Deletes in chunks, each its own write operation, so a large backlog never holds the writer
    /// (and every waiting submitter) for long.
    public func purgeFinishedJobs(now: Millis) async throws -> Int {
        let chunk = 2000
        var total = 0
        let providers = try await providers().filter { $0.purgeJobsAgeHours > 0 }
        for provider in providers {
            let cutoff = now - Millis(provider.purgeJobsAgeHours * 3_600_000)
            while true {
                let deleted = try await write { context in
                    let c = context.connection
                    let seqs = try c.rows(
                        "SELECT seq FROM jobs WHERE status IN ('COMPLETED', 'FAILED') AND end_time < ? "
                            + "AND provider = ? LIMIT ?", .int(cutoff), .text(provider.name), .of(chunk)
                    ) { $0.int64(0) }
                    guard !seqs.isEmpty else { return 0 }
                    let list = JSON.string(.array(seqs.map { .int($0) }))
                    for table in [
                        "job_data WHERE seq", "job_errors WHERE job_seq", "job_files WHERE job_seq",
                        "jobs WHERE seq",
                    ] {
                        try c.run("DELETE FROM \(table) IN (SELECT value FROM json_each(?))", .text(list))
                    }
                    return seqs.count
                }
                total += deleted
                if deleted < chunk { break }
            }
        }
        return total
    }
}

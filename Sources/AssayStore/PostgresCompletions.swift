import AssayInfotable
import Synchronization

/// Completions on PostgreSQL, applied many to one statement.
///
/// An agent's report carries dozens of outcomes and the engine hands them to the store at once;
/// one UPDATE per job would cost a round trip each inside the writers' shared transaction. Here
/// the completions that arrive while a writer is busy wait together, and the next writer operation
/// applies them all with one `UPDATE ... FROM unnest(...)` that checks each job's lease token, as
/// the single-job statement does. Only the jobs it did not update (a lost lease, an unknown job)
/// cost a look of their own, to say why. Each caller is answered after the commit.
final class PostgresCompletions: Sendable {
    struct Completion: Sendable {
        let provider: String
        let jobId: String
        let token: Int64
        let results: [UInt8]
        let now: Millis
    }

    private struct Waiting {
        let completion: Completion
        let continuation: CheckedContinuation<JobRecord, Error>
    }

    private struct Pending {
        var waiting: [Waiting] = []
        /// Whether an operation that will take `waiting` is queued with the writers.
        var flushQueued = false
    }

    private let pending = Mutex(Pending())

    /// Applies `completion` with the others that wait beside it; returns the completed job.
    func complete(_ completion: Completion, store: PostgresStore) async throws -> JobRecord {
        try await withCheckedThrowingContinuation { continuation in
            let queueFlush = pending.withLock { state -> Bool in
                state.waiting.append(Waiting(completion: completion, continuation: continuation))
                defer { state.flushQueued = true }
                return !state.flushQueued
            }
            if queueFlush { Task { await flush(store) } }
        }
    }

    /// Queues one writer operation that takes every completion waiting when it runs. A batch that
    /// is rolled back and run again applies the same completions, which it took the first time.
    private func flush(_ store: PostgresStore) async {
        let taken = ResultBox<[Waiting]>()
        let outcomes: [Result<JobRecord, AssayError>]
        do {
            outcomes = try await store.write { [self] context in
                let waiting = taken.value ?? takeWaiting()
                taken.value = waiting
                return try Self.apply(waiting.map(\.completion), context)
            }
        } catch {
            // The operation may have failed without running (the store closed or unreachable):
            // then the completions it was to take are still waiting, and fail with it.
            for item in taken.value ?? takeWaiting() { item.continuation.resume(throwing: error) }
            return
        }
        for (item, outcome) in zip(taken.value ?? [], outcomes) { item.continuation.resume(with: outcome) }
    }

    /// Takes every waiting completion; the next one to arrive queues a new flush.
    private func takeWaiting() -> [Waiting] {
        pending.withLock { state in
            defer {
                state.waiting = []
                state.flushQueued = false
            }
            return state.waiting
        }
    }

    /// One UPDATE for all of `completions`, then one look at each job it left alone.
    static func apply(
        _ completions: [Completion], _ context: PostgresPool.Context
    ) throws -> [Result<JobRecord, AssayError>] {
        guard !completions.isEmpty else { return [] }
        let c = context.connection
        let updated = try c.query(
            "UPDATE jobs SET status = 'COMPLETED', results = d.results, end_time = d.now, last_updated = d.now, "
                + "error_code = NULL, error_message = NULL, lease_token = NULL, lease_expires = NULL "
                + "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bigint[]) "
                + "AS d(provider, id, token, results, now) "
                + "WHERE jobs.provider = d.provider AND jobs.id = d.id AND jobs.status = 'INPROCESS' "
                + "AND jobs.lease_token = d.token "
                + "RETURNING \(PostgresStore.qualifiedJobColumns), "
                + "(SELECT max_concurrent FROM providers p WHERE p.name = jobs.provider)",
            [
                .textArray(completions.map(\.provider)), .textArray(completions.map(\.jobId)),
                .intArray(completions.map(\.token)), .bytesArray(completions.map(\.results)),
                .intArray(completions.map(\.now)),
            ])
        var done: [String: JobRecord] = [:]
        var cappedProviders: Set<String> = []
        for i in 0..<updated.count {
            let job = PostgresStore.decodeJob(updated, i)
            done[job.provider + "\u{0}" + job.id] = job
            context.announce(.jobChanged(provider: job.provider, jobId: job.id))
            if updated.int(i, 22) > 0 { cappedProviders.insert(job.provider) }
        }
        for provider in cappedProviders.sorted() { context.announce(.jobsAvailable(provider: provider)) }

        return try completions.map { completion in
            if let job = done.removeValue(forKey: completion.provider + "\u{0}" + completion.jobId) {
                return .success(job)
            }
            // Not updated: the job is unknown, or this attempt no longer holds it (or the same job
            // came twice, and the first completion took it).
            do {
                _ = try PostgresStore.heldJob(
                    c, provider: completion.provider, jobId: completion.jobId, token: completion.token)
                return .failure(AssayError.leaseLost(jobId: completion.jobId, attempt: 1))
            } catch let error as AssayError {
                return .failure(error)
            }
        }
    }
}

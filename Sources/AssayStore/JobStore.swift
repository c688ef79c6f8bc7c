import AssayInfotable

/// Everything Assay keeps, behind one protocol with an SQLite and a PostgreSQL implementation.
///
/// The job engine's state transitions are store operations, so that several servers sharing one
/// PostgreSQL database stay consistent: a claim, a completion or a lease rescue is one transaction
/// in the store, never a read-modify-write in a server's memory. Every method is safe to call from
/// any task at once; implementations keep their own connections and threads (a connection is never
/// used by two threads at once) and batch writes (group commit), so callers simply `await`.
///
/// Methods throw `AssayError`: the client-facing ones named in the contract (`CONFLICT`,
/// `UNKNOWN_JOB`, `JOB_NOT_RETRYABLE`, `LEASE_LOST`, ...) and `STORE_UNAVAILABLE` (503) when the
/// database cannot be reached.
public protocol JobStore: Sendable {
    // MARK: - Providers and models

    func createProvider(_ provider: ProviderRecord) async throws
    /// Replaces the provider's settings; `UNKNOWN_PROVIDER` when absent.
    func updateProvider(_ provider: ProviderRecord) async throws
    /// `CONFLICT` while the provider has models; `UNKNOWN_PROVIDER` when absent.
    func deleteProvider(_ name: String) async throws
    func provider(_ name: String) async throws -> ProviderRecord?
    func providers() async throws -> [ProviderRecord]

    /// `CONFLICT` when the name is taken; `UNKNOWN_PROVIDER` when the provider is absent.
    func createModel(_ model: ModelRecord) async throws
    /// `UNKNOWN_MODEL` when absent.
    func setModelEnabled(provider: String, model: String, enabled: Bool) async throws
    /// `CONFLICT` while the model has WAITING or INPROCESS jobs; `UNKNOWN_MODEL` when absent.
    func deleteModel(provider: String, model: String) async throws
    func model(provider: String, model: String) async throws -> ModelRecord?
    /// All models, or one provider's.
    func models(provider: String?) async throws -> [ModelRecord]

    /// Stores (or replaces) a file of the model repository.
    func putModelFile(provider: String, name: String, data: [UInt8]) async throws
    func modelFile(provider: String, name: String) async throws -> [UInt8]?

    // MARK: - Application keys

    /// `CONFLICT` when the name is taken.
    func createKey(_ key: KeyRecord) async throws
    /// Returns whether a key of that name existed.
    func deleteKey(name: String) async throws -> Bool
    func keys() async throws -> [KeyRecord]
    func key(hash: String) async throws -> KeyRecord?

    // MARK: - Submitting and reading jobs

    /// Stores new jobs; they are durable (synced to disk) when this returns. Returns one id per job
    /// in order: the job's own, or, when the provider already has a job with the same
    /// idempotency key, that job's id (and nothing new is stored).
    func submit(_ jobs: [NewJob]) async throws -> [String]
    func job(provider: String, id: String) async throws -> JobRecord?
    /// The jobs of `provider` among `ids` that exist, in no particular order: one read for many.
    func jobs(provider: String, ids: [String]) async throws -> [JobRecord]
    func jobInput(provider: String, id: String) async throws -> [UInt8]?
    /// The results of a COMPLETED job.
    func jobResults(provider: String, id: String) async throws -> [UInt8]?
    /// One row per failed attempt, oldest first.
    func jobErrors(provider: String, id: String) async throws -> [JobErrorRecord]
    func jobFiles(provider: String, id: String) async throws -> [FileInfo]
    func jobFile(provider: String, id: String, name: String) async throws -> (FileInfo, [UInt8])?
    func queryJobs(_ query: JobQuery) async throws -> [JobRecord]

    // MARK: - Running jobs

    /// Hands up to `max` runnable WAITING jobs of `provider` whose model is in `models` to
    /// `clientId`, highest priority first, then oldest: each becomes INPROCESS with a fresh fencing
    /// token (unique and increasing across the store) and a lease until `now + leaseSeconds`.
    /// Honours the provider's `maxConcurrentJobs` across all servers, skips jobs whose `notBefore`
    /// is later than `now`, and skips jobs of a stateful session pinned to another client; the first
    /// job of a session that is claimed pins the session (for that provider) to `clientId`. Files of
    /// earlier attempts are dropped when a job is claimed again.
    func claim(provider: String, clientId: String, models: [String], max: Int, leaseSeconds: Double, now: Millis)
        async throws -> [ClaimedJob]

    /// Records an agent's heartbeat (creating the client on first contact) and renews the leases of
    /// the attempts it reports that still hold their job. Returns the reported attempts that no
    /// longer do (retried, rescued, finished): the agent should stop them.
    func heartbeat(
        client: ClientRecord, attempts: [AttemptRef], leaseSeconds: Double, now: Millis
    ) async throws -> [AttemptRef]

    /// Forgets an agent that stopped on its own; its running jobs are left to lease expiry.
    func removeClient(clientId: String) async throws
    func clients(provider: String) async throws -> [ClientRecord]

    /// Attaches a result file to the running attempt. `LEASE_LOST` when the token no longer holds the job.
    func putResultFile(
        provider: String, jobId: String, token: Int64, file: FileInfo, data: [UInt8], now: Millis
    ) async throws

    /// Completes the attempt holding `token`: the job becomes COMPLETED with `results`.
    /// `LEASE_LOST` when the token no longer holds the job; `UNKNOWN_JOB` when there is no such job.
    func complete(provider: String, jobId: String, token: Int64, results: [UInt8], now: Millis) async throws
        -> JobRecord

    /// Fails the attempt holding `token`, adding a GetJobErrors row. A retryable failure with
    /// attempts left makes the job WAITING again with the next attempt number and `notBefore` set
    /// by `RetryPolicy`; otherwise it becomes FAILED. `LEASE_LOST` / `UNKNOWN_JOB` as for `complete`.
    func fail(provider: String, jobId: String, token: Int64, failure: JobFailure, now: Millis) async throws
        -> JobRecord

    /// RetryJob: a FAILED or INPROCESS job becomes WAITING with the next attempt number, runnable at
    /// once; an INPROCESS attempt is abandoned (its token no longer holds the job, and an
    /// `ABANDONED` row is added to its errors). `JOB_NOT_RETRYABLE` (with the status) otherwise.
    func retry(provider: String, jobId: String, now: Millis) async throws -> JobRecord

    // MARK: - Stateful sessions

    func setSessionStateful(_ sessionId: String, stateful: Bool, now: Millis) async throws
    func isSessionStateful(_ sessionId: String) async throws -> Bool

    // MARK: - Maintenance (run by one server at a time)

    /// Takes back INPROCESS jobs whose lease ran out before `now`: each gets a `LEASE_EXPIRED`
    /// error row and is retried (with backoff) while attempts remain, else FAILED. Returns them.
    func rescueExpiredLeases(now: Millis) async throws -> [JobRecord]

    /// Forgets agents whose last heartbeat is older than `now - leaseSeconds`. The WAITING jobs of
    /// stateful sessions pinned to them fail with `SESSION_LOST` and those sessions end. Returns
    /// the jobs that failed.
    func expireClients(leaseSeconds: Double, now: Millis) async throws -> [JobRecord]

    /// Deletes finished jobs older than their provider's `purgeJobsAge`, with their results,
    /// errors and files. Returns how many were deleted.
    func purgeFinishedJobs(now: Millis) async throws -> Int

    /// Whether this server should run the maintenance loop now. SQLite: always; PostgreSQL: the
    /// holder of an advisory lock, which passes to a survivor when its holder dies.
    func holdsMaintenanceRole() async -> Bool

    // MARK: - Events and health

    /// Registers a handler for changes that waiting callers care about; it is called after the
    /// change is committed, on any thread, also for changes made by other servers of the cluster.
    func subscribe(_ handler: @escaping @Sendable (StoreEvent) -> Void)

    /// Whether the store can serve right now.
    func isAvailable() async -> Bool

    /// Stops background threads and closes connections.
    func close() async
}

public enum StoreEvent: Sendable, Equatable {
    /// The provider may have runnable jobs: long-polling agents should claim again.
    case jobsAvailable(provider: String)
    /// The job reached COMPLETED or FAILED, or went back to WAITING after a failed attempt.
    case jobChanged(provider: String, jobId: String)
}

/// How long a job waits before its next automatic attempt: exponential in the attempt number
/// with full jitter, so that a burst of failures does not retry in lockstep.
public enum RetryPolicy {
    public static let baseSeconds: Double = 1
    public static let maxSeconds: Double = 300

    /// Milliseconds to wait after `failedAttempt` (1-based) failed.
    public static func delayMillis(afterAttempt failedAttempt: Int) -> Millis {
        let ceiling = min(maxSeconds, baseSeconds * Double(1 << min(max(failedAttempt - 1, 0), 20)))
        let jittered = ceiling / 2 + Double.random(in: 0...(ceiling / 2))
        return Millis(jittered * 1000)
    }
}

import AssayInfotable

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a `JobHandler` for one provider's jobs: connects, long-polls `ClaimJobs` for as many jobs as
/// it has free slots (up to 256 at once), runs them on `concurrency` worker threads, keeps their
/// leases alive with heartbeats, uploads result files and reports outcomes in batches.
///
/// Threads: one poller, one heartbeater, one reporter and the workers, handing attempts to each other
/// under one lock. Throughput comes from batching, not from more threads: whatever finished while a
/// report was on the wire goes into the next report, and a claim asks for every free slot at once.
///
/// When the server is unreachable or answers 503, every thread backs off and tries again; finished
/// outcomes are kept (and their leases renewed) until the server accepts or refuses them. A report
/// refused with `LEASE_LOST` is dropped: another attempt owns the job now.
public final class AgentRunner: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The models the agent announces when it connects.
        public var models: [String]
        /// How many jobs run at once: one worker thread each.
        public var concurrency: Int
        public var hostName: String
        /// How long a graceful stop lets running jobs finish before cancelling them.
        public var gracePeriodSeconds: Double = 30
        /// The long poll of each claim (0–30 s).
        public var claimWaitSeconds: Int = 20
        public var maxClaimBatch: Int = 256
        public var maxReportBatch: Int = 256
        /// The longest pause between tries while the server is unreachable.
        public var maxBackoffSeconds: Double = 10
        /// How long a stop keeps trying to report outcomes that finished before it cancelled the rest.
        public var finalReportSeconds: Double = 5

        public init(models: [String], concurrency: Int, hostName: String = AgentRunner.hostName()) {
            self.models = models
            self.concurrency = max(1, concurrency)
            self.hostName = hostName
        }
    }

    /// Counts since the runner started; for the stop log line and for tests.
    public struct Statistics: Sendable, Equatable {
        public var claimed = 0
        /// Reports the server accepted, by outcome.
        public var completed = 0
        public var failed = 0
        /// Attempts the server told the agent to stop.
        public var abandoned = 0
        /// Reports or uploads refused (`LEASE_LOST` and the like) and dropped.
        public var refused = 0
        /// Attempts cancelled by a hard stop or at the end of the grace period.
        public var cancelled = 0
        public var reportRequests = 0
        public var claimRequests = 0
    }

    /// One claimed attempt, shared by the queue, the lease table and the report queue.
    final class Attempt: @unchecked Sendable {
        let job: AgentJob
        let flag = CancellationFlag()
        /// Set by the worker that ran it, under the lock.
        var outcome: JobOutcome?
        /// Touched by the reporter thread only.
        var filesUploaded = false

        init(_ job: AgentJob) { self.job = job }

        var ref: AgentConnection.AttemptRef { AgentConnection.AttemptRef(jobId: job.jobId, token: job.token) }
    }

    public let connection: AgentConnection
    public let configuration: Configuration
    private let handler: any JobHandler
    private let log: AgentLog

    private let lock = AgentLock()
    private let workCond: AgentCondition
    private let slotsCond: AgentCondition
    private let reportCond: AgentCondition
    private let stateCond: AgentCondition
    private let beatCond: AgentCondition

    // Everything below is guarded by `lock`.
    private var started = false
    private var stopRequested = false
    private var hardStopRequested = false
    /// Set once the stop is complete: every thread leaves its loop.
    private var stopped = false
    private var queue: [Attempt] = []
    private var queueHead = 0
    private var running = 0
    /// Every attempt whose lease the agent holds, from the claim until its report is answered.
    private var held: [Int64: Attempt] = [:]
    private var finished: [Attempt] = []
    private var timing = AgentConnection.Timing()
    private var needsReconnect = false
    private var stats = Statistics()
    /// The error each role last logged, so that an outage logs once, not on every try.
    private var lastError: [String: String] = [:]

    public init(
        connection: AgentConnection, handler: any JobHandler, configuration: Configuration,
        log: AgentLog = .standardError
    ) {
        self.connection = connection
        self.handler = handler
        self.configuration = configuration
        self.log = log
        workCond = AgentCondition(lock)
        slotsCond = AgentCondition(lock)
        reportCond = AgentCondition(lock)
        stateCond = AgentCondition(lock)
        beatCond = AgentCondition(lock)
    }

    public var statistics: Statistics { lock.withLock { stats } }

    /// The local host name, for `Connect`.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Running and stopping

    /// Connects (waiting for an unreachable server), runs jobs until `stop` is called, then finishes
    /// or cancels the running ones, reports what finished and disconnects. Throws only when the server
    /// refuses the connection for good (unknown provider, bad key).
    public func run() throws(AssayError) {
        let proceed = lock.withLock { () -> Bool in
            precondition(!started, "AgentRunner.run() may be called once")
            started = true
            return !stopRequested
        }
        guard proceed else { return }
        guard try connectUntilStopped() else {
            lock.withLock { stopped = true }
            return
        }
        for index in 0..<configuration.concurrency {
            AgentThread.start(name: "agent-worker-\(index)") { [self] in workerLoop() }
        }
        AgentThread.start(name: "agent-poller") { [self] in pollLoop() }
        AgentThread.start(name: "agent-heartbeat") { [self] in heartbeatLoop() }
        AgentThread.start(name: "agent-reporter") { [self] in reportLoop() }
        coordinateStop()
        do {
            try connection.disconnect()
        } catch {
            log.warning(
                "agent could not disconnect; its registration lapses with its lease",
                ["client": connection.clientId, "error": error.description])
        }
        let s = statistics
        log.info(
            "agent stopped",
            [
                "provider": connection.providerName, "client": connection.clientId,
                "jobs.completed": String(s.completed), "jobs.failed": String(s.failed),
                "jobs.abandoned": String(s.abandoned), "jobs.refused": String(s.refused),
                "jobs.cancelled": String(s.cancelled),
            ])
    }

    /// Asks the runner to stop; callable from any thread, any number of times. A graceful stop stops
    /// claiming and lets running jobs finish (for at most the grace period) and report; a hard stop,
    /// or a second call with `graceful: false`, cancels them at once.
    public func stop(graceful: Bool = true) {
        lock.withLock {
            stopRequested = true
            if !graceful { hardStopRequested = true }
            stateCond.broadcast()
            slotsCond.broadcast()
        }
    }

    /// Connects, retrying while the server is unreachable; false when a stop came first.
    private func connectUntilStopped() throws(AssayError) -> Bool {
        var backoff = Backoff(max: configuration.maxBackoffSeconds)
        while true {
            do {
                let t = try connection.connect(
                    models: configuration.models, capacity: configuration.concurrency,
                    hostName: configuration.hostName)
                lock.withLock { timing = t }
                noteSuccess("connect")
                log.info(
                    "agent connected",
                    [
                        "provider": connection.providerName, "client": connection.clientId,
                        "server": connection.serverDescription, "models": configuration.models.joined(separator: ","),
                        "concurrency": String(configuration.concurrency),
                        "lease.seconds": Self.format(t.leaseSeconds),
                        "heartbeat.seconds": Self.format(t.heartbeatSeconds),
                    ])
                return true
            } catch  where error.isTransient {
                noteFailure("connect", error, retrying: true)
                let wake = MonotonicClock.now() + backoff.next(retryAfter: error.retryAfter)
                let stop = lock.withLock { () -> Bool in
                    while !stopRequested && MonotonicClock.now() < wake { stateCond.wait(until: wake) }
                    return stopRequested
                }
                if stop { return false }
            } catch {
                log.error(
                    "agent could not connect",
                    ["provider": connection.providerName, "client": connection.clientId, "error": error.description])
                throw error
            }
        }
    }

    /// Runs on the thread that called `run()`: waits for the stop, drains, cancels what is left.
    private func coordinateStop() {
        lock.lock()
        while !stopRequested { stateCond.wait() }
        if !hardStopRequested && !held.isEmpty {
            log.info(
                "agent stopping: finishing running jobs",
                [
                    "client": connection.clientId, "jobs": String(held.count),
                    "grace.seconds": Self.format(configuration.gracePeriodSeconds),
                ])
            let deadline = MonotonicClock.now() + configuration.gracePeriodSeconds
            while !held.isEmpty && !hardStopRequested && MonotonicClock.now() < deadline {
                stateCond.wait(until: deadline)
            }
        }
        if !held.isEmpty {
            // Unfinished attempts are left to their leases: the server retries them elsewhere.
            var cancelled = 0
            for (token, attempt) in held where attempt.outcome == nil {
                attempt.flag.cancel()
                held[token] = nil
                cancelled += 1
            }
            stats.cancelled += cancelled
            queue.removeAll()
            queueHead = 0
            if cancelled > 0 {
                log.warning(
                    "agent cancelled unfinished jobs; the server retries them when their leases expire",
                    ["client": connection.clientId, "jobs": String(cancelled)])
            }
            let deadline = MonotonicClock.now() + configuration.finalReportSeconds
            while !held.isEmpty && MonotonicClock.now() < deadline { stateCond.wait(until: deadline) }
            if !held.isEmpty {
                log.warning(
                    "agent stopped before the server took these outcomes; the jobs run again when their leases expire",
                    ["client": connection.clientId, "jobs": String(held.count)])
                held.removeAll()
            }
        }
        stopped = true
        queue.removeAll()
        queueHead = 0
        finished.removeAll()
        workCond.broadcast()
        slotsCond.broadcast()
        reportCond.broadcast()
        beatCond.broadcast()
        lock.unlock()
    }

    // MARK: Claiming

    /// Slots a claim may fill. Finished attempts still waiting for their report hold their jobs too:
    /// up to `concurrency` of them are free, so claims overlap reports, but past that the agent stops
    /// claiming, so that when reports lag it does not take leases other agents could use.
    private var freeSlots: Int {
        let idle = configuration.concurrency - (queue.count - queueHead) - running
        return Swift.min(idle, 2 * configuration.concurrency - held.count)
    }

    private func pollLoop() {
        var backoff = Backoff(max: configuration.maxBackoffSeconds)
        while true {
            lock.lock()
            while !stopRequested && freeSlots <= 0 { slotsCond.wait() }
            if stopRequested {
                lock.unlock()
                return
            }
            let wanted = min(configuration.maxClaimBatch, freeSlots)
            let reconnect = needsReconnect
            stats.claimRequests += 1
            lock.unlock()
            do {
                if reconnect { try reconnectNow() }
                let jobs = try connection.claimJobs(maxJobs: wanted, waitSeconds: configuration.claimWaitSeconds)
                noteSuccess("claim")
                backoff.reset()
                if !jobs.isEmpty { enqueue(jobs) }
            } catch {
                noteFailure("claim", error, retrying: true)
                // After an outage or a refusal the server may have forgotten the agent (restart, another
                // server of a cluster): connect again before the next claim.
                lock.withLock { needsReconnect = true }
                let wake = MonotonicClock.now() + backoff.next(retryAfter: error.retryAfter)
                lock.withLock {
                    while !stopRequested && MonotonicClock.now() < wake { slotsCond.wait(until: wake) }
                }
            }
        }
    }

    private func reconnectNow() throws(AssayError) {
        let t = try connection.connect(
            models: configuration.models, capacity: configuration.concurrency, hostName: configuration.hostName)
        lock.withLock {
            timing = t
            needsReconnect = false
        }
    }

    private func enqueue(_ jobs: [AgentJob]) {
        lock.lock()
        if stopped {
            lock.unlock()
            log.warning(
                "agent claimed jobs after it stopped; they run again when their leases expire",
                ["client": connection.clientId, "jobs": String(jobs.count)])
            return
        }
        for job in jobs where held[job.token] == nil {
            let attempt = Attempt(job)
            held[job.token] = attempt
            queue.append(attempt)
        }
        stats.claimed += jobs.count
        if jobs.count == 1 { workCond.signal() } else { workCond.broadcast() }
        lock.unlock()
    }

    // MARK: Working

    private func workerLoop() {
        while true {
            lock.lock()
            while queueHead == queue.count && !stopped { workCond.wait() }
            if stopped {
                lock.unlock()
                return
            }
            let attempt = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            } else if queueHead >= 1024 && queueHead * 2 >= queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            if attempt.flag.isCancelled {
                slotsCond.signal()
                lock.unlock()
                continue
            }
            running += 1
            lock.unlock()

            let outcome = handler.run(attempt.job, cancellation: attempt.flag)

            lock.lock()
            running -= 1
            let cancelled = attempt.flag.isCancelled
            if cancelled {
                if held[attempt.job.token] === attempt { held[attempt.job.token] = nil }
                stateCond.broadcast()
            } else {
                attempt.outcome = outcome
                finished.append(attempt)
                reportCond.signal()
            }
            slotsCond.signal()
            lock.unlock()

            if !cancelled, case .failed(let code, let message, _, let retryable) = outcome {
                log.info(
                    "job failed",
                    [
                        "job.id": attempt.job.jobId, "attempt": String(attempt.job.attempt),
                        "model": attempt.job.modelName, "error.code": code, "retryable": String(retryable),
                        "error": message,
                    ])
            }
        }
    }

    // MARK: Heartbeats

    private func heartbeatLoop() {
        var last = MonotonicClock.now()
        while true {
            lock.lock()
            while !stopped && MonotonicClock.now() < last + timing.heartbeatSeconds {
                beatCond.wait(until: last + timing.heartbeatSeconds)
            }
            if stopped {
                lock.unlock()
                return
            }
            last = MonotonicClock.now()
            let refs = held.values.map(\.ref)
            var health = JSONObject()
            health.appendUnchecked("load", .double(Double(running) / Double(configuration.concurrency)))
            health.appendUnchecked("running", .int(Int64(running)))
            health.appendUnchecked("queued", .int(Int64(queue.count - queueHead)))
            health.appendUnchecked("capacity", .int(Int64(configuration.concurrency)))
            lock.unlock()
            do {
                let reply = try connection.heartbeat(attempts: refs, health: health)
                noteSuccess("heartbeat")
                abandon(reply.abandoned, leaseSeconds: reply.leaseSeconds)
            } catch {
                noteFailure("heartbeat", error, retrying: true)
                if !error.isTransient { lock.withLock { needsReconnect = true } }
            }
        }
    }

    /// Stops the attempts the server took back; their outcomes would be refused.
    func abandon(_ refs: [AgentConnection.AttemptRef], leaseSeconds: Double?) {
        var dropped: [Attempt] = []
        lock.withLock {
            if let leaseSeconds, leaseSeconds > 0 { timing.leaseSeconds = leaseSeconds }
            for ref in refs {
                guard let attempt = held[ref.token], attempt.job.jobId == ref.jobId else { continue }
                attempt.flag.cancel()
                held[ref.token] = nil
                dropped.append(attempt)
            }
            stats.abandoned += dropped.count
            if !dropped.isEmpty {
                stateCond.broadcast()
                slotsCond.signal()
            }
        }
        // One line per job while they are few; a mass abandonment (the server lost this agent) is
        // one line, not thousands.
        if dropped.count > 3 {
            log.info("jobs abandoned by the server; stopping them", ["count": String(dropped.count)])
        } else {
            for attempt in dropped {
                log.info(
                    "job abandoned by the server; stopping it",
                    ["job.id": attempt.job.jobId, "attempt": String(attempt.job.attempt)])
            }
        }
    }

    // MARK: Reporting

    private func reportLoop() {
        var backoff = Backoff(max: configuration.maxBackoffSeconds)
        var batch: [Attempt] = []
        while true {
            lock.lock()
            if batch.isEmpty {
                while finished.isEmpty && !stopped { reportCond.wait() }
                let n = min(finished.count, configuration.maxReportBatch)
                batch.append(contentsOf: finished[0..<n])
                finished.removeFirst(n)
            }
            if stopped {
                lock.unlock()
                return
            }
            batch.removeAll { $0.flag.isCancelled }
            stats.reportRequests += batch.isEmpty ? 0 : 1
            lock.unlock()
            if batch.isEmpty { continue }

            let (retry, error) = uploadAndReport(batch)
            batch = retry
            if let error {
                noteFailure("report", error, retrying: true)
                let wake = MonotonicClock.now() + backoff.next(retryAfter: error.retryAfter)
                lock.withLock {
                    while !stopped && MonotonicClock.now() < wake { reportCond.wait(until: wake) }
                }
            } else {
                noteSuccess("report")
                backoff.reset()
            }
        }
    }

    /// Uploads the files of the batch's completions, then reports the batch. Answers the attempts to
    /// try again later and the transient error that stopped them.
    func uploadAndReport(_ batch: [Attempt]) -> (retry: [Attempt], error: AssayError?) {
        var ready: [Attempt] = []
        ready.reserveCapacity(batch.count)
        for (index, attempt) in batch.enumerated() {
            if !attempt.filesUploaded, case .completed(_, let files)? = attempt.outcome, !files.isEmpty {
                do {
                    for file in files {
                        try connection.uploadResultFile(jobId: attempt.job.jobId, token: attempt.job.token, file: file)
                    }
                } catch  where error.isTransient {
                    return (ready + batch[index...], error)
                } catch  where error.code == "LEASE_LOST" {
                    settle([(attempt, ReportVerdict.refused(error))])
                    continue
                } catch {
                    // A file the server will not take fails the attempt rather than blocking its report.
                    lock.withLock {
                        attempt.outcome = .failed(
                            errorCode: "RESULT_INVALID", message: "A result file was refused: \(error.message)",
                            details: nil, retryable: false)
                    }
                }
            }
            attempt.filesUploaded = true
            ready.append(attempt)
        }
        return report(ready)
    }

    enum ReportVerdict {
        case accepted(completed: Bool)
        case refused(AssayError)
    }

    private func report(_ batch: [Attempt]) -> (retry: [Attempt], error: AssayError?) {
        guard !batch.isEmpty else { return ([], nil) }
        let reports = lock.withLock {
            batch.map { AgentConnection.Report(jobId: $0.job.jobId, token: $0.job.token, outcome: $0.outcome!) }
        }
        do {
            let outcomes = try connection.reportJobs(reports)
            settle(
                zip(batch, outcomes).map { attempt, outcome in
                    (
                        attempt,
                        outcome.accepted
                            ? .accepted(completed: attempt.outcome?.isCompleted ?? false)
                            : .refused(outcome.error ?? AssayError.conflict("The server refused the report."))
                    )
                })
            return ([], nil)
        } catch  where error.isTransient {
            return (batch, error)
        } catch {
            // One bad report must not hold back the others: report them one by one to find it.
            if batch.count > 1 {
                var retry: [Attempt] = []
                var lastError: AssayError?
                for attempt in batch {
                    let (again, e) = report([attempt])
                    retry += again
                    if let e { lastError = e }
                }
                return (retry, lastError)
            }
            let attempt = batch[0]
            if error.status == 413, attempt.outcome?.isCompleted == true {
                lock.withLock {
                    attempt.outcome = .failed(
                        errorCode: "RESULT_INVALID",
                        message: "The result is larger than the server accepts: \(error.message)", details: nil,
                        retryable: false)
                }
                return report(batch)
            }
            settle([(attempt, .refused(error))])
            return ([], nil)
        }
    }

    /// Forgets reported attempts and counts them.
    private func settle(_ verdicts: [(Attempt, ReportVerdict)]) {
        var refusals: [(Attempt, AssayError)] = []
        lock.withLock {
            for (attempt, verdict) in verdicts {
                if held[attempt.job.token] === attempt { held[attempt.job.token] = nil }
                switch verdict {
                case .accepted(let completed):
                    if completed { stats.completed += 1 } else { stats.failed += 1 }
                case .refused(let error):
                    stats.refused += 1
                    refusals.append((attempt, error))
                }
            }
            stateCond.broadcast()
            slotsCond.signal()
        }
        for (attempt, error) in refusals {
            let metadata: KeyValuePairs<String, String> = [
                "job.id": attempt.job.jobId, "attempt": String(attempt.job.attempt), "error.code": error.code,
                "error": error.message,
            ]
            if error.code == "LEASE_LOST" {
                log.info("job outcome refused: the attempt lost its lease; dropping it", metadata)
            } else {
                log.error("job outcome refused by the server; dropping it", metadata)
            }
        }
    }

    // MARK: Outage logging

    private func noteFailure(_ role: String, _ error: AssayError, retrying: Bool) {
        // A request cut short by the agent's own stop is no news for the operator.
        let isNew = lock.withLock { () -> Bool in
            defer { lastError[role] = error.code }
            return lastError[role] != error.code && !stopped
        }
        guard isNew else { return }
        let metadata: KeyValuePairs<String, String> = [
            "client": connection.clientId, "request": role, "error.code": error.code, "error": error.message,
        ]
        if error.isTransient {
            log.warning("server unavailable; retrying with back-off", metadata)
        } else {
            log.error("server refused an agent request; retrying with back-off", metadata)
        }
    }

    private func noteSuccess(_ role: String) {
        let recovered = lock.withLock { lastError.removeValue(forKey: role) != nil }
        if recovered {
            log.info("server reachable again", ["client": connection.clientId, "request": role])
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

/// Exponential back-off with jitter, from half a second up to a cap, honouring `Retry-After`.
struct Backoff {
    let max: Double
    private var current = 0.5

    init(max: Double) { self.max = Swift.max(0.01, max) }

    mutating func next(retryAfter: Int? = nil) -> Double {
        let base = Swift.min(current, max)
        current = Swift.min(current * 2, max)
        let jittered = base * Double.random(in: 0.8...1.2)
        if let retryAfter { return Swift.max(jittered, Double(retryAfter)) }
        return jittered
    }

    mutating func reset() { current = 0.5 }
}

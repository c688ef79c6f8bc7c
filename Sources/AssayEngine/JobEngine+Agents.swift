import AssayInfotable
import AssayStore

/// The engine's side of the agent protocol (docs/agent-protocol.md): connecting, long-poll claims,
/// heartbeats and reports of finished attempts.

/// An agent as it introduces itself.
public struct AgentInfo: Sendable {
    public var clientId: String
    public var provider: String
    public var hostName: String
    public var models: [String]
    public var capacity: Int

    public init(clientId: String, provider: String, hostName: String, models: [String], capacity: Int) {
        self.clientId = clientId
        self.provider = provider
        self.hostName = hostName
        self.models = models
        self.capacity = capacity
    }
}

/// One finished attempt as an agent reports it.
public enum AttemptReport: Sendable {
    case completed(jobId: String, token: Int64, results: JSONValue)
    case failed(jobId: String, token: Int64, failure: JobFailure)

    var jobId: String {
        switch self {
        case .completed(let id, _, _), .failed(let id, _, _): return id
        }
    }
}

/// What became of a reported attempt.
public struct ReportOutcome: Sendable {
    public var jobId: String
    public var status: JobStatus?
    public var error: AssayError?
}

extension JobEngine {
    public func connect(_ agent: AgentInfo, healthJSON: String = "{}") async throws {
        _ = try await catalog.provider(agent.provider)
        agentModels.withLock { $0[agent.clientId] = agent.models }
        let client = ClientRecord(
            clientId: agent.clientId, provider: agent.provider, hostName: agent.hostName,
            modelsJSON: JSON.string(.array(agent.models.map { .string($0) })), capacity: agent.capacity,
            runningJobs: 0, lastHeartbeat: WallClock.nowMillis(), healthJSON: healthJSON)
        _ = try await store.heartbeat(
            client: client, attempts: [], leaseSeconds: configuration.leaseSeconds, now: client.lastHeartbeat)
        Log.info(
            "agent connected",
            [
                "provider": agent.provider, "client": agent.clientId, "host": agent.hostName,
                "models": agent.models.joined(separator: ","),
            ])
    }

    /// The models an agent said it runs, from this server's memory or, when it connected to another
    /// server of the cluster, from the store.
    func models(ofAgent clientId: String, provider: String) async throws -> [String] {
        if let models = agentModels.withLock({ $0[clientId] }) { return models }
        guard let client = try await store.clients(provider: provider).first(where: { $0.clientId == clientId }) else {
            throw AssayError.conflict(
                "Agent '\(clientId)' is not connected to provider '\(provider)'; call Connect first.")
        }
        let models = (try? JSON.parse(client.modelsJSON))?.arrayValue?.compactMap(\.stringValue) ?? []
        agentModels.withLock { $0[clientId] = models }
        return models
    }

    /// A long poll: returns as soon as jobs can be handed to the agent, or none after `waitSeconds`.
    public func claim(
        provider: String, clientId: String, models: [String]?, maxJobs: Int, waitSeconds: Double
    ) async throws -> [ClaimedJob] {
        _ = try await catalog.provider(provider)
        var models = models ?? []
        if models.isEmpty { models = try await self.models(ofAgent: clientId, provider: provider) }
        let wait = min(max(waitSeconds, 0), configuration.claimMaxWaitSeconds)
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        while true {
            let waiter = waiters.register("provider:" + provider)
            let jobs = try await store.claim(
                provider: provider, clientId: clientId, models: models, max: maxJobs,
                leaseSeconds: configuration.leaseSeconds, now: WallClock.nowMillis())
            let remaining = deadline - ContinuousClock.now
            if !jobs.isEmpty || remaining <= .zero || Task.isCancelled {
                waiters.unregister(waiter)
                return jobs
            }
            let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
            await waiter.wait(seconds: min(seconds, configuration.recheckSeconds))
            waiters.unregister(waiter)
        }
    }

    public func heartbeat(
        provider: String, clientId: String, attempts: [AttemptRef], healthJSON: String
    ) async throws -> [AttemptRef] {
        _ = try await catalog.provider(provider)
        let now = WallClock.nowMillis()
        var client = try await store.clients(provider: provider).first { $0.clientId == clientId }
        if client == nil {
            // The agent connected to a server that forgot it (lost, or another server expired it):
            // it is known again from this heartbeat on.
            let models = agentModels.withLock { $0[clientId] } ?? []
            client = ClientRecord(
                clientId: clientId, provider: provider, hostName: "",
                modelsJSON: JSON.string(
                    .array(
                        models.map { .string($0) })), capacity: 0, runningJobs: 0, lastHeartbeat: now, healthJSON: "{}")
        }
        guard var client else { return attempts }
        client.lastHeartbeat = now
        client.healthJSON = healthJSON
        return try await store.heartbeat(
            client: client, attempts: attempts, leaseSeconds: configuration.leaseSeconds, now: now)
    }

    public func disconnect(provider: String, clientId: String) async throws {
        agentModels.withLock { $0[clientId] = nil }
        try await store.removeClient(clientId: clientId)
        Log.info("agent disconnected", ["provider": provider, "client": clientId])
    }

    public func uploadResultFile(
        provider: String, jobId: String, token: Int64, file: FileInfo, data: [UInt8]
    ) async throws {
        try await store.putResultFile(
            provider: provider, jobId: jobId, token: token, file: file, data: data, now: WallClock.nowMillis())
    }

    /// Records finished attempts. Results are checked against the model's result shape and
    /// cardinality; a mismatch fails the job with `RESULT_INVALID`.
    public func report(provider: String, _ reports: [AttemptReport]) async -> [ReportOutcome] {
        // The completed jobs are read in one go, for their models; each is read alone only if
        // that read fails. Reports then run concurrently so that the store commits a whole batch
        // together instead of paying one durable commit per job in turn.
        var completedIds: [String] = []
        for case .completed(let jobId, _, _) in reports { completedIds.append(jobId) }
        var known: [String: JobRecord]?
        if let jobs = try? await store.jobs(provider: provider, ids: completedIds) {
            known = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
        return await withTaskGroup(of: (Int, ReportOutcome).self) { group in
            for (index, report) in reports.enumerated() {
                group.addTask { [self, known] in (index, await record(provider: provider, report, known: known)) }
            }
            var outcomes = [ReportOutcome?](repeating: nil, count: reports.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.map { $0! }
        }
    }

    /// Records one outcome. `known` holds the jobs read beforehand, when that read succeeded: a
    /// job missing from it does not exist.
    private func record(
        provider: String, _ report: AttemptReport, known: [String: JobRecord]?
    ) async -> ReportOutcome {
        do {
            let job: JobRecord
            switch report {
            case .completed(let jobId, let token, let results):
                let current: JobRecord?
                if let known {
                    current = known[jobId]
                } else {
                    current = try await store.job(provider: provider, id: jobId)
                }
                job = try await complete(current, provider: provider, jobId: jobId, token: token, results: results)
            case .failed(let jobId, let token, let failure):
                job = try await store.fail(
                    provider: provider, jobId: jobId, token: token, failure: failure, now: WallClock.nowMillis())
                logFailure(job, failure)
            }
            return ReportOutcome(jobId: report.jobId, status: job.status, error: nil)
        } catch let error as AssayError {
            return ReportOutcome(jobId: report.jobId, status: nil, error: error)
        } catch {
            return ReportOutcome(jobId: report.jobId, status: nil, error: .internalError("\(error)"))
        }
    }

    /// Completes `job` (as read before; nil when it does not exist) after checking its results.
    private func complete(
        _ job: JobRecord?, provider: String, jobId: String, token: Int64, results: JSONValue
    ) async throws -> JobRecord {
        guard let job else {
            throw AssayError.unknownJob(provider: provider, jobId: jobId)
        }
        guard job.status == .inProcess, job.leaseToken == token else {
            throw AssayError.leaseLost(jobId: jobId, attempt: job.attempt)
        }
        let now = WallClock.nowMillis()
        do {
            let model = try await catalog.model(provider: provider, model: job.model)
            let table = try await checkResults(results, job: job, model: model)
            return try await store.complete(
                provider: provider, jobId: jobId, token: token, results: JSON.serialize(table.json), now: now)
        } catch let error as AssayError where error.code == "RESULT_INVALID" || error.code == "INVALID_INPUT" {
            let failure = JobFailure(errorCode: "RESULT_INVALID", message: error.message, details: "")
            let failed = try await store.fail(
                provider: provider, jobId: jobId, token: token, failure: failure, now: now)
            logFailure(failed, failure)
            return failed
        }
    }

    func checkResults(_ results: JSONValue, job: JobRecord, model: ModelEntry) async throws -> Infotable {
        let table = try JobEngine.resultTable(results)
        let conformed = try table.conformed(to: model.resultShape, code: "RESULT_INVALID")
        if model.cardinality != .any {
            var inputRows = 1
            if model.cardinality == .nxn, let input = try await store.jobInput(provider: job.provider, id: job.id) {
                inputRows = (try? JSON.parse(input))?["rows"]?.arrayValue?.count ?? 0
            }
            guard model.cardinality.acceptsResult(inputRows: inputRows, resultRows: conformed.rows.count) else {
                throw AssayError(
                    status: 422, code: "RESULT_INVALID",
                    message: "Model '\(model.record.name)' has cardinality \(model.cardinality.rawValue) but returned "
                        + "\(conformed.rows.count) result rows for \(inputRows) input rows.")
            }
        }
        return conformed
    }

    /// Accepts an infotable, `{"rows": [...]}` or a bare array of rows.
    static func resultTable(_ results: JSONValue) throws -> Infotable {
        do {
            if case .array(let rows) = results {
                return try Infotable(json: .object(JSONObject([("rows", .array(rows))])))
            }
            return try Infotable(json: results)
        } catch {
            throw AssayError(
                status: 422, code: "RESULT_INVALID", message: "The results are not an infotable: \(error.message)")
        }
    }

    func logFailure(_ job: JobRecord, _ failure: JobFailure) {
        let outcome = job.status == .failed ? "job failed" : "job attempt failed, will retry"
        Log.info(
            outcome,
            [
                "job.id": job.id, "provider": job.provider, "model": job.model, "attempt": String(job.attempt),
                "error": failure.errorCode,
            ])
    }
}

import AssayInfotable
import AssayStore
import Synchronization

/// Runs models inside the server instead of on agents (the `pmml` connector).
public protocol ModelRuntime: Sendable {
    /// Derives the data shapes of a model from its file; refuses a file it cannot run, naming why.
    func describe(file: [UInt8]) throws -> (input: DataShape, result: DataShape, cardinality: Cardinality)
    /// Scores `input` (already checked against the model's input shape) and returns the result rows.
    /// Throws `AssayError` with code `INVALID_INPUT` (naming row and field) for a row it cannot score.
    func score(model: ModelRecord, file: [UInt8], input: Infotable) throws -> Infotable
}

/// What SubmitJob and ExecuteJob hand to the engine.
public struct SubmitRequest: Sendable {
    public var providerName: String
    public var modelName: String
    public var inputParams: JSONValue?
    public var extraParams: JSONObject
    public var customData: JSONValue?
    /// The caller's session, when it is stateful: its jobs are pinned to one agent.
    public var statefulSessionId: String?

    public init(
        providerName: String, modelName: String, inputParams: JSONValue?, extraParams: JSONObject = JSONObject(),
        customData: JSONValue? = nil, statefulSessionId: String? = nil
    ) {
        self.providerName = providerName
        self.modelName = modelName
        self.inputParams = inputParams
        self.extraParams = extraParams
        self.customData = customData
        self.statefulSessionId = statefulSessionId
    }
}

/// The job engine: turns the job services into store operations, parks callers that wait (ExecuteJob,
/// long-polling agents) until the store announces a change, runs the maintenance loop and scores the
/// jobs of in-server providers.
///
/// All job state lives in the store, so any number of engines (one per server) may share one
/// PostgreSQL database; the engine itself keeps only caches and waiters.
public final class JobEngine: Sendable {
    public let store: any JobStore
    public let configuration: EngineConfiguration
    public let catalog: Catalog
    let waiters = Waiters()
    let runtimes: [String: any ModelRuntime]
    /// The client id this server uses when it takes jobs of in-server providers itself.
    public let serverClientId: String
    let tasks = Mutex<[Task<Void, Never>]>([])
    let agentModels = Mutex<[String: [String]]>([:])
    /// Providers whose jobs this server scores itself; only their events wake the in-server workers.
    let inServerProviders = Mutex<Set<String>>([])
    /// What the maintenance loop last learnt from the store about the maintenance role.
    let maintenanceRole = Atomic<Bool>(false)

    /// Whether this server holds the maintenance role of its cluster, as of the maintenance loop's
    /// last pass (one interval old at most); false before the engine starts and after it stops.
    public var holdsMaintenanceRole: Bool { maintenanceRole.load(ordering: .relaxed) }

    public init(
        store: any JobStore, configuration: EngineConfiguration = EngineConfiguration(),
        runtimes: [ConnectorName: any ModelRuntime] = [:], serverName: String = "server"
    ) {
        self.store = store
        self.configuration = configuration
        self.catalog = Catalog(store: store, ttlSeconds: configuration.catalogCacheSeconds)
        self.runtimes = Dictionary(uniqueKeysWithValues: runtimes.map { ($0.key.rawValue, $0.value) })
        self.serverClientId = "\(serverName)-\(JobID.randomHex(bytes: 4))"
    }

    /// Subscribes to the store's events and starts the maintenance loop and in-server workers.
    public func start() {
        store.subscribe { [self] event in
            switch event {
            case .jobsAvailable(let provider):
                waiters.signal("provider:" + provider)
                if inServerProviders.withLock({ $0.contains(provider) }) { waiters.signal("in-server") }
            case .jobChanged(_, let jobId):
                waiters.signal("job:" + jobId)
            }
        }
        var started: [Task<Void, Never>] = [Task.detached { [self] in await maintenanceLoop() }]
        if !runtimes.isEmpty {
            for _ in 0..<max(1, configuration.inServerWorkers) {
                started.append(Task.detached { [self] in await inServerWorkerLoop() })
            }
        }
        tasks.withLock { $0.append(contentsOf: started) }
    }

    public func stop() async {
        let running = tasks.withLock { t -> [Task<Void, Never>] in
            defer { t.removeAll() }
            return t
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    func runtime(for provider: ProviderRecord) -> (any ModelRuntime)? {
        runtimes[provider.connector.rawValue]
    }

    // MARK: - Submitting

    /// SubmitJob: checks the request against the model and stores the job; durable on return.
    public func submit(_ request: SubmitRequest) async throws -> String {
        let prepared = try await prepare(request)
        return try await store.submit([prepared.job])[0]
    }

    /// ExecuteJob: runs the job and waits for its results (SPEC §4).
    public func execute(_ request: SubmitRequest) async throws -> Infotable {
        let prepared = try await prepare(request)
        let waitSeconds = min(
            prepared.extra.waitSeconds ?? configuration.executeDefaultWaitSeconds, configuration.executeMaxWaitSeconds)
        if let runtime = runtime(for: prepared.provider) {
            return try await executeInServer(prepared, runtime: runtime)
        }
        var waiter = waiters.register("job:" + prepared.job.id)
        let jobId = try await store.submit([prepared.job])[0]
        if jobId != prepared.job.id {
            waiters.unregister(waiter)
            waiter = waiters.register("job:" + jobId)
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(waitSeconds * 1000))
        while true {
            guard let job = try await store.job(provider: prepared.provider.name, id: jobId) else {
                waiters.unregister(waiter)
                throw AssayError.unknownJob(provider: prepared.provider.name, jobId: jobId)
            }
            switch job.status {
            case .completed:
                waiters.unregister(waiter)
                return try await results(provider: job.provider, jobId: jobId)
            case .failed:
                waiters.unregister(waiter)
                throw AssayError.jobFailed(
                    jobId: jobId, errorCode: job.errorCode ?? "FAILED", message: job.errorMessage ?? "the job failed")
            case .waiting, .inProcess:
                break
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                waiters.unregister(waiter)
                throw AssayError.executeTimeout(jobId: jobId, seconds: waitSeconds)
            }
            let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
            await waiter.wait(seconds: min(seconds, configuration.recheckSeconds))
            waiters.unregister(waiter)
            waiter = waiters.register("job:" + jobId)
        }
    }

    /// ExecuteJob on an in-server provider: scored here, then recorded as a finished job.
    private func executeInServer(_ prepared: PreparedJob, runtime: any ModelRuntime) async throws -> Infotable {
        var job = prepared.job
        let now = WallClock.nowMillis()
        do {
            let result = try await score(prepared.model, input: prepared.input, runtime: runtime)
            job.finishedResult = JSON.serialize(result.json)
            let id = try await store.submit([job])[0]
            if id != job.id { return try await results(provider: job.provider, jobId: id) }
            return result
        } catch let error as AssayError {
            job.failure = JobFailure(errorCode: error.code, message: error.message)
            job.createdTime = now
            let id = try await store.submit([job])[0]
            throw AssayError.jobFailed(jobId: id, errorCode: error.code, message: error.message)
        }
    }

    func score(_ model: ModelEntry, input: Infotable, runtime: any ModelRuntime) async throws -> Infotable {
        guard let fileName = model.record.fileName else {
            throw AssayError(
                status: 422, code: "MODEL_FAILED",
                message: "Model '\(model.record.name)' has no model file to score with.")
        }
        let file = try await modelFileCache.load(store: store, provider: model.record.provider, name: fileName)
        let result = try runtime.score(model: model.record, file: file, input: input)
        return try result.conformed(to: model.resultShape, code: "RESULT_INVALID")
    }

    let modelFileCache = ModelFileCache()

    struct PreparedJob {
        var job: NewJob
        var provider: ProviderRecord
        var model: ModelEntry
        var input: Infotable
        var extra: ExtraParams
    }

    private func prepare(_ request: SubmitRequest) async throws -> PreparedJob {
        let provider = try await catalog.provider(request.providerName)
        let model = try await catalog.model(provider: request.providerName, model: request.modelName)
        guard model.record.enabled else {
            throw AssayError.modelDisabled(provider: request.providerName, model: request.modelName)
        }
        let extra = try ExtraParams(request.extraParams)
        let sent = try request.inputParams.map { try Infotable(json: $0) } ?? Infotable.empty
        let input = try sent.conformed(to: model.inputShape)
        try model.cardinality.checkInput(rowCount: input.rows.count)
        var customDataJSON: String?
        if let customData = request.customData, !customData.isNull {
            customDataJSON = JSON.string(try Infotable(json: customData).json)
        }
        let now = WallClock.nowMillis()
        let inServer = runtime(for: provider) != nil
        let job = NewJob(
            id: JobID.make(now: now), provider: provider.name, model: model.record.name, priority: extra.priority,
            maxAttempts: extra.maxAttempts ?? provider.maxAttempts,
            // TODO: the time-out is enforced by the agent that runs the attempt; the server does not
            // take back an attempt that overruns while its agent still heartbeats.
            timeoutSeconds: extra.timeoutSeconds ?? provider.jobTimeoutSeconds,
            sessionId: inServer ? nil : request.statefulSessionId, idempotencyKey: extra.idempotencyKey,
            extraParamsJSON: JSON.string(.object(request.extraParams)), customDataJSON: customDataJSON,
            input: JSON.serialize(input.json), createdTime: now)
        return PreparedJob(job: job, provider: provider, model: model, input: input, extra: extra)
    }

    // MARK: - Reading

    public func job(provider: String, jobId: String) async throws -> JobRecord {
        guard let job = try await store.job(provider: provider, id: jobId) else {
            _ = try await catalog.provider(provider)
            throw AssayError.unknownJob(provider: provider, jobId: jobId)
        }
        return job
    }

    /// The stored result infotable, as JSON bytes with its data shape.
    public func resultBytes(provider: String, jobId: String) async throws -> [UInt8] {
        let job = try await job(provider: provider, jobId: jobId)
        guard job.status == .completed, let bytes = try await store.jobResults(provider: provider, id: jobId) else {
            throw AssayError.jobNotCompleted(jobId: jobId, status: job.status.rawValue)
        }
        return bytes
    }

    public func results(provider: String, jobId: String) async throws -> Infotable {
        let bytes = try await resultBytes(provider: provider, jobId: jobId)
        return try Infotable(json: try JSON.parse(bytes))
    }

    public func errors(provider: String, jobId: String) async throws -> [JobErrorRecord] {
        _ = try await job(provider: provider, jobId: jobId)
        return try await store.jobErrors(provider: provider, id: jobId)
    }

    public func files(provider: String, jobId: String) async throws -> [FileInfo] {
        let job = try await job(provider: provider, jobId: jobId)
        guard job.status == .completed else { return [] }
        return try await store.jobFiles(provider: provider, id: jobId)
    }

    public func file(provider: String, jobId: String, name: String) async throws -> (FileInfo, [UInt8]) {
        let job = try await job(provider: provider, jobId: jobId)
        guard job.status == .completed, let file = try await store.jobFile(provider: provider, id: jobId, name: name)
        else {
            throw AssayError.unknownFile("\(provider)/\(jobId)/\(name)")
        }
        return file
    }

    public func retry(provider: String, jobId: String) async throws -> JobRecord {
        _ = try await job(provider: provider, jobId: jobId)
        let job = try await store.retry(provider: provider, jobId: jobId, now: WallClock.nowMillis())
        Log.info("job retried", ["job.id": jobId, "provider": provider, "attempt": String(job.attempt)])
        return job
    }

    public func query(_ query: JobQuery) async throws -> [JobRecord] {
        try await store.queryJobs(query)
    }
}

/// The `extraParams` members Assay acts on, checked once at submission.
struct ExtraParams {
    var priority = 0
    var timeoutSeconds: Double?
    var maxAttempts: Int?
    var waitSeconds: Double?
    var idempotencyKey: String?

    init(_ object: JSONObject) throws {
        if let value = object["priority"], !value.isNull {
            guard let p = value.int64Value, p >= Int64(Int32.min), p <= Int64(Int32.max) else {
                throw AssayError.badRequest("extraParams.priority must be a 32-bit integer, got \(JSON.string(value)).")
            }
            priority = Int(p)
        }
        if let value = object["timeoutSeconds"], !value.isNull {
            guard let t = value.doubleValue, t >= 0, t <= 7 * 86400 else {
                throw AssayError.badRequest(
                    "extraParams.timeoutSeconds must be a number of seconds from 0 to 604800, got \(JSON.string(value))."
                )
            }
            timeoutSeconds = t
        }
        if let value = object["maxAttempts"], !value.isNull {
            guard let m = value.int64Value, m >= 1, m <= 100 else {
                throw AssayError.badRequest(
                    "extraParams.maxAttempts must be an integer from 1 to 100, got \(JSON.string(value)).")
            }
            maxAttempts = Int(m)
        }
        if let value = object["waitSeconds"], !value.isNull {
            guard let w = value.doubleValue, w >= 0, w <= 600 else {
                throw AssayError.badRequest(
                    "extraParams.waitSeconds must be a number of seconds from 0 to 600, got \(JSON.string(value)).")
            }
            waitSeconds = w
        }
        if let value = object["idempotencyKey"], !value.isNull {
            guard let k = value.stringValue, !k.isEmpty, k.utf8.count <= 256 else {
                throw AssayError.badRequest(
                    "extraParams.idempotencyKey must be a non-empty string of at most 256 bytes.")
            }
            idempotencyKey = k
        }
    }
}

/// Model files of in-server providers, kept by name. A kept file is read again from the store when
/// it is older than `maxAge`, so that a file replaced through another server of a cluster is used
/// here within that time; a replacement through this server is seen at once (`forget`).
final class ModelFileCache: Sendable {
    private struct Entry {
        let data: [UInt8]
        let read: ContinuousClock.Instant
    }

    private let files = Mutex<[String: Entry]>([:])
    private let maxAge: Duration

    init(maxAge: Duration = .seconds(5)) {
        self.maxAge = maxAge
    }

    func load(store: any JobStore, provider: String, name: String) async throws -> [UInt8] {
        let key = provider + "/" + name
        let now = ContinuousClock.now
        if let entry = files.withLock({ $0[key] }), now - entry.read < maxAge { return entry.data }
        guard let data = try await store.modelFile(provider: provider, name: name) else {
            throw AssayError.unknownFile("\(provider)/\(name)")
        }
        files.withLock { $0[key] = Entry(data: data, read: now) }
        return data
    }

    func forget(provider: String, name: String) {
        files.withLock { $0[provider + "/" + name] = nil }
    }
}

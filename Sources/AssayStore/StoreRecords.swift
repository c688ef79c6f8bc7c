import AssayInfotable

/// The records the store keeps. Payloads (inputs, results, extra parameters, data shapes) stay as
/// JSON text or bytes here: the store never needs to look inside them, and the layers above parse
/// them once, where they are used.

public enum JobStatus: String, Sendable, CaseIterable {
    case waiting = "WAITING"
    case inProcess = "INPROCESS"
    case completed = "COMPLETED"
    case failed = "FAILED"

    public var isFinished: Bool { self == .completed || self == .failed }
}

public enum ConnectorName: String, Sendable, CaseIterable {
    case agent
    case pmml
}

public enum KeyRole: String, Sendable, CaseIterable {
    case admin
    case user
    case agent
}

/// Milliseconds since the epoch, UTC: the unit of every time the store keeps.
public typealias Millis = Int64

public struct ProviderRecord: Sendable, Equatable {
    public var name: String
    public var description: String
    public var connector: ConnectorName
    /// Hours after which finished jobs are deleted; 0 keeps them.
    public var purgeJobsAgeHours: Double
    public var maxAttempts: Int
    /// At most this many of the provider's jobs run at once, across all servers; 0 means no cap.
    public var maxConcurrentJobs: Int
    /// Default time-out of one attempt; 0 means none.
    public var jobTimeoutSeconds: Double
    public var createdTime: Millis

    public init(
        name: String, description: String = "", connector: ConnectorName = .agent, purgeJobsAgeHours: Double = 168,
        maxAttempts: Int = 3, maxConcurrentJobs: Int = 0, jobTimeoutSeconds: Double = 0, createdTime: Millis = 0
    ) {
        self.name = name
        self.description = description
        self.connector = connector
        self.purgeJobsAgeHours = purgeJobsAgeHours
        self.maxAttempts = maxAttempts
        self.maxConcurrentJobs = maxConcurrentJobs
        self.jobTimeoutSeconds = jobTimeoutSeconds
        self.createdTime = createdTime
    }
}

public struct ModelRecord: Sendable, Equatable {
    public var provider: String
    public var name: String
    public var description: String
    /// The input and result data shapes in the manual (array) JSON form.
    public var inputShapeJSON: String
    public var resultShapeJSON: String
    public var cardinality: String
    public var enabled: Bool
    /// The model file's name in the model repository, for models created from a file.
    public var fileName: String?
    public var createdTime: Millis

    public init(
        provider: String, name: String, description: String = "", inputShapeJSON: String, resultShapeJSON: String,
        cardinality: String = "Any", enabled: Bool = true, fileName: String? = nil, createdTime: Millis = 0
    ) {
        self.provider = provider
        self.name = name
        self.description = description
        self.inputShapeJSON = inputShapeJSON
        self.resultShapeJSON = resultShapeJSON
        self.cardinality = cardinality
        self.enabled = enabled
        self.fileName = fileName
        self.createdTime = createdTime
    }
}

public struct KeyRecord: Sendable, Equatable {
    public var name: String
    public var role: KeyRole
    /// For agent keys: the providers whose jobs the key may take.
    public var providers: [String]
    /// Hex SHA-256 of the key; the key itself is never stored.
    public var hash: String
    public var createdTime: Millis

    public init(name: String, role: KeyRole, providers: [String] = [], hash: String, createdTime: Millis = 0) {
        self.name = name
        self.role = role
        self.providers = providers
        self.hash = hash
        self.createdTime = createdTime
    }
}

/// A job as SubmitJob hands it to the store.
public struct NewJob: Sendable {
    public var id: String
    public var provider: String
    public var model: String
    public var priority: Int
    public var maxAttempts: Int
    /// Per-attempt time-out; 0 means none.
    public var timeoutSeconds: Double
    /// Set only for jobs submitted in a stateful session: they are pinned to the session's agent.
    public var sessionId: String?
    public var idempotencyKey: String?
    public var extraParamsJSON: String
    public var customDataJSON: String?
    public var input: [UInt8]
    public var createdTime: Millis
    /// For jobs that were already run when they are recorded (ExecuteJob on a `pmml` provider):
    /// the job is stored COMPLETED with these results, or FAILED with `failure`.
    public var finishedResult: [UInt8]?
    public var failure: JobFailure?

    public init(
        id: String, provider: String, model: String, priority: Int = 0, maxAttempts: Int = 3,
        timeoutSeconds: Double = 0, sessionId: String? = nil, idempotencyKey: String? = nil,
        extraParamsJSON: String = "{}", customDataJSON: String? = nil, input: [UInt8], createdTime: Millis,
        finishedResult: [UInt8]? = nil, failure: JobFailure? = nil
    ) {
        self.id = id
        self.provider = provider
        self.model = model
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.timeoutSeconds = timeoutSeconds
        self.sessionId = sessionId
        self.idempotencyKey = idempotencyKey
        self.extraParamsJSON = extraParamsJSON
        self.customDataJSON = customDataJSON
        self.input = input
        self.createdTime = createdTime
        self.finishedResult = finishedResult
        self.failure = failure
    }
}

/// Why an attempt failed.
public struct JobFailure: Sendable, Equatable {
    public var errorCode: String
    public var message: String
    public var details: String
    /// The model said the job may succeed on another attempt.
    public var retryable: Bool

    public init(errorCode: String, message: String, details: String = "", retryable: Bool = false) {
        self.errorCode = errorCode
        self.message = message
        self.details = details
        self.retryable = retryable
    }
}

/// A job's state, without its input and results.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var provider: String
    public var model: String
    public var status: JobStatus
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var timeoutSeconds: Double
    public var clientId: String?
    public var sessionId: String?
    public var createdTime: Millis
    public var startTime: Millis?
    public var endTime: Millis?
    public var lastUpdated: Millis
    public var errorCode: String?
    public var errorMessage: String?
    public var extraParamsJSON: String
    public var customDataJSON: String?
    public var idempotencyKey: String?
    /// The fencing token of the running attempt: results are accepted only with it.
    public var leaseToken: Int64?
    public var leaseExpires: Millis?
    /// A job waiting for a retry does not run before this time.
    public var notBefore: Millis?

    public init(
        id: String, provider: String, model: String, status: JobStatus, priority: Int, attempt: Int,
        maxAttempts: Int, timeoutSeconds: Double, clientId: String?, sessionId: String?, createdTime: Millis,
        startTime: Millis?, endTime: Millis?, lastUpdated: Millis, errorCode: String?, errorMessage: String?,
        extraParamsJSON: String, customDataJSON: String?, idempotencyKey: String?, leaseToken: Int64?,
        leaseExpires: Millis?, notBefore: Millis?
    ) {
        self.id = id
        self.provider = provider
        self.model = model
        self.status = status
        self.priority = priority
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.timeoutSeconds = timeoutSeconds
        self.clientId = clientId
        self.sessionId = sessionId
        self.createdTime = createdTime
        self.startTime = startTime
        self.endTime = endTime
        self.lastUpdated = lastUpdated
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.extraParamsJSON = extraParamsJSON
        self.customDataJSON = customDataJSON
        self.idempotencyKey = idempotencyKey
        self.leaseToken = leaseToken
        self.leaseExpires = leaseExpires
        self.notBefore = notBefore
    }
}

/// One failed attempt, as GetJobErrors lists it.
public struct JobErrorRecord: Sendable, Equatable {
    public var jobId: String
    public var attempt: Int
    public var errorCode: String
    public var errorMessage: String
    public var details: String
    public var timestamp: Millis

    public init(
        jobId: String, attempt: Int, errorCode: String, errorMessage: String, details: String, timestamp: Millis
    ) {
        self.jobId = jobId
        self.attempt = attempt
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.details = details
        self.timestamp = timestamp
    }
}

/// A result file of a job.
public struct FileInfo: Sendable, Equatable {
    public var name: String
    public var contentType: String
    public var size: Int64

    public init(name: String, contentType: String, size: Int64) {
        self.name = name
        self.contentType = contentType
        self.size = size
    }
}

/// A job handed to an agent: its state, its input and the attempt's fencing token.
public struct ClaimedJob: Sendable {
    public var job: JobRecord
    public var token: Int64
    public var input: [UInt8]

    public init(job: JobRecord, token: Int64, input: [UInt8]) {
        self.job = job
        self.token = token
        self.input = input
    }
}

/// An agent connected to the server, as GetConnectedClients lists it.
public struct ClientRecord: Sendable, Equatable {
    public var clientId: String
    public var provider: String
    public var hostName: String
    public var modelsJSON: String
    public var capacity: Int
    public var runningJobs: Int
    public var lastHeartbeat: Millis
    public var healthJSON: String

    public init(
        clientId: String, provider: String, hostName: String, modelsJSON: String, capacity: Int, runningJobs: Int,
        lastHeartbeat: Millis, healthJSON: String
    ) {
        self.clientId = clientId
        self.provider = provider
        self.hostName = hostName
        self.modelsJSON = modelsJSON
        self.capacity = capacity
        self.runningJobs = runningJobs
        self.lastHeartbeat = lastHeartbeat
        self.healthJSON = healthJSON
    }
}

/// An attempt an agent reports as running: the job and the fencing token it was claimed with.
public struct AttemptRef: Sendable, Hashable {
    public var jobId: String
    public var token: Int64

    public init(jobId: String, token: Int64) {
        self.jobId = jobId
        self.token = token
    }
}

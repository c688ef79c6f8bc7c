import AssayInfotable

/// One claimed attempt of a job, as `ClaimJobs` hands it out. The `token` fences the attempt: every
/// report and file upload carries it, and the server refuses them once another attempt holds the job.
public struct AgentJob: Sendable {
    public var jobId: String
    public var providerName: String
    public var modelName: String
    public var attempt: Int
    public var token: Int64
    /// The attempt's time-out in seconds; 0 for none.
    public var timeoutSeconds: Double
    /// Set for the jobs of a stateful session; they all come to this agent.
    public var sessionId: String?
    public var extraParams: JSONObject
    public var customData: JSONValue?
    /// The input infotable, with its data shape.
    public var input: JSONValue

    public init(
        jobId: String, providerName: String, modelName: String, attempt: Int = 1, token: Int64,
        timeoutSeconds: Double = 0, sessionId: String? = nil, extraParams: JSONObject = JSONObject(),
        customData: JSONValue? = nil, input: JSONValue
    ) {
        self.jobId = jobId
        self.providerName = providerName
        self.modelName = modelName
        self.attempt = attempt
        self.token = token
        self.timeoutSeconds = timeoutSeconds
        self.sessionId = sessionId
        self.extraParams = extraParams
        self.customData = customData
        self.input = input
    }

    /// Reads one element of the `jobs` array of a `ClaimJobs` reply.
    init(claimed value: JSONValue) throws(AssayError) {
        guard case .object(let o) = value else {
            throw AgentConnection.malformedReply("ClaimJobs", "a job is \(value.typeName), not an object")
        }
        func string(_ key: String) throws(AssayError) -> String {
            guard let s = o[key]?.stringValue else {
                throw AgentConnection.malformedReply("ClaimJobs", "a job has no string '\(key)'")
            }
            return s
        }
        guard let token = o["token"]?.int64Value else {
            throw AgentConnection.malformedReply("ClaimJobs", "a job has no integer 'token'")
        }
        jobId = try string("jobId")
        providerName = try string("providerName")
        modelName = try string("modelName")
        self.token = token
        attempt = Int(o["attempt"]?.int64Value ?? 1)
        timeoutSeconds = max(0, o["timeoutSeconds"]?.doubleValue ?? 0)
        sessionId = o["sessionId"]?.stringValue
        extraParams = o["extraParams"]?.objectValue ?? JSONObject()
        if let custom = o["customData"], !custom.isNull { customData = custom } else { customData = nil }
        input = o["input"] ?? .object(JSONObject([("rows", .array([]))]))
    }
}

import AssayInfotable

/// The client side of the agent protocol (docs/agent-protocol.md): one method per service, JSON in
/// and out, error bodies decoded into `AssayError`.
///
/// It is safe to call from several threads at once: each call borrows a transport from a small pool
/// (one per concurrently calling thread, so in practice one each for the poller, the heartbeater and
/// the reporter) because an HTTP connection serves one request at a time. When the server cannot be
/// reached at all, methods throw an `AssayError` with status 503 and code `SERVER_UNREACHABLE`, so
/// that callers treat "down" and "overloaded" alike: back off and try again.
public final class AgentConnection: @unchecked Sendable {
    public let providerName: String
    public let clientId: String
    /// Where the server is, for log lines and messages.
    public let serverDescription: String
    private let key: String?
    private let makeTransport: @Sendable () throws -> AgentTransport
    private let lock = AgentLock()
    private var idle: [AgentTransport] = []

    static let servicesPath = "/Thingworx/Resources/Assay.AgentServicesAPI/Services/"
    static let filesPath = "/Thingworx/FileRepositories/TW.AnalysisServices.JobResultRepository/"

    /// `makeTransport` opens a new connection to the server; it is called lazily, whenever every
    /// pooled connection is busy.
    public init(
        providerName: String, clientId: String, key: String?, serverDescription: String = "the server",
        makeTransport: @escaping @Sendable () throws -> AgentTransport
    ) {
        self.providerName = providerName
        self.clientId = clientId
        self.key = key
        self.serverDescription = serverDescription
        self.makeTransport = makeTransport
    }

    deinit {
        for transport in idle { transport.close() }
    }

    // MARK: Services

    /// The timing the server asks the agent to keep.
    public struct Timing: Sendable, Equatable {
        public var leaseSeconds: Double
        public var heartbeatSeconds: Double

        public init(leaseSeconds: Double = 15, heartbeatSeconds: Double = 5) {
            self.leaseSeconds = leaseSeconds
            self.heartbeatSeconds = heartbeatSeconds
        }
    }

    /// An attempt as heartbeats name it.
    public struct AttemptRef: Sendable, Hashable {
        public var jobId: String
        public var token: Int64

        public init(jobId: String, token: Int64) {
            self.jobId = jobId
            self.token = token
        }
    }

    /// A finished attempt to report. The outcome's files must have been uploaded already.
    public struct Report: Sendable {
        public var jobId: String
        public var token: Int64
        public var outcome: JobOutcome

        public init(jobId: String, token: Int64, outcome: JobOutcome) {
            self.jobId = jobId
            self.token = token
            self.outcome = outcome
        }
    }

    /// The server's verdict on one reported attempt.
    public struct ReportOutcome: Sendable {
        public var jobId: String
        public var accepted: Bool
        /// The job's status after the report, when accepted.
        public var status: String?
        /// Why it was refused (`LEASE_LOST`, ...), when not accepted.
        public var error: AssayError?
    }

    public struct HeartbeatReply: Sendable {
        /// Attempts the agent must stop: their results would be refused.
        public var abandoned: [AttemptRef]
        public var leaseSeconds: Double?
    }

    /// Registers the agent (or refreshes its registration).
    public func connect(models: [String], capacity: Int, hostName: String) throws(AssayError) -> Timing {
        var body = baseBody()
        body.appendUnchecked("hostName", .string(hostName))
        body.appendUnchecked("models", .array(models.map { .string($0) }))
        body.appendUnchecked("capacity", .int(Int64(capacity)))
        let reply = try call("Connect", body)
        var timing = Timing()
        if let lease = reply["leaseSeconds"]?.doubleValue, lease > 0 { timing.leaseSeconds = lease }
        if let beat = reply["heartbeatSeconds"]?.doubleValue, beat > 0 { timing.heartbeatSeconds = beat }
        return timing
    }

    /// Long-polls for up to `maxJobs` (1–256) jobs; answers none after `waitSeconds` (0–30).
    public func claimJobs(maxJobs: Int, waitSeconds: Int, models: [String]? = nil) throws(AssayError) -> [AgentJob] {
        var body = baseBody()
        body.appendUnchecked("maxJobs", .int(Int64(min(max(maxJobs, 1), 256))))
        body.appendUnchecked("waitSeconds", .int(Int64(min(max(waitSeconds, 0), 30))))
        if let models { body.appendUnchecked("models", .array(models.map { .string($0) })) }
        let reply = try call("ClaimJobs", body)
        guard let jobs = reply["jobs"]?.arrayValue else {
            throw Self.malformedReply("ClaimJobs", "it has no 'jobs' array")
        }
        var claimed: [AgentJob] = []
        claimed.reserveCapacity(jobs.count)
        for job in jobs { claimed.append(try AgentJob(claimed: job)) }
        return claimed
    }

    /// Renews the leases of `attempts` and answers those the agent must stop.
    public func heartbeat(attempts: [AttemptRef], health: JSONObject = JSONObject()) throws(AssayError)
        -> HeartbeatReply
    {
        var body = baseBody()
        body.appendUnchecked("attempts", .array(attempts.map(Self.json)))
        body.appendUnchecked("health", .object(health))
        let reply = try call("Heartbeat", body)
        var abandoned: [AttemptRef] = []
        for entry in reply["abandoned"]?.arrayValue ?? [] {
            guard let jobId = entry["jobId"]?.stringValue, let token = entry["token"]?.int64Value else {
                throw Self.malformedReply("Heartbeat", "an abandoned attempt lacks 'jobId' or 'token'")
            }
            abandoned.append(AttemptRef(jobId: jobId, token: token))
        }
        return HeartbeatReply(abandoned: abandoned, leaseSeconds: reply["leaseSeconds"]?.doubleValue)
    }

    /// Reports finished attempts; answers one outcome per report, in the order of `reports`.
    public func reportJobs(_ reports: [Report]) throws(AssayError) -> [ReportOutcome] {
        // The body lists completions before failures and the server answers in that order.
        let order = Self.reportOrder(reports)
        let reply = try call("ReportJobs", Self.reportBody(order.map { reports[$0] }, base: baseBody()))
        guard let outcomes = reply["outcomes"]?.arrayValue else {
            throw Self.malformedReply("ReportJobs", "it has no 'outcomes' array")
        }
        guard outcomes.count == reports.count else {
            throw Self.malformedReply(
                "ReportJobs", "it has \(outcomes.count) outcomes for \(reports.count) reported attempts")
        }
        var result = [ReportOutcome?](repeating: nil, count: reports.count)
        for (position, index) in order.enumerated() {
            result[index] = Self.reportOutcome(outcomes[position], jobId: reports[index].jobId)
        }
        return result.map { $0! }
    }

    static func reportOutcome(_ outcome: JSONValue, jobId: String) -> ReportOutcome {
        let accepted = outcome["accepted"]?.boolValue ?? false
        var error: AssayError?
        if !accepted {
            let e = outcome["error"]
            error = AssayError(
                status: 409, code: e?["code"]?.stringValue ?? "REFUSED",
                message: e?["message"]?.stringValue ?? "The server refused the report without saying why.")
        }
        return ReportOutcome(
            jobId: outcome["jobId"]?.stringValue ?? jobId, accepted: accepted,
            status: outcome["status"]?.stringValue, error: error)
    }

    /// Forgets the agent after a graceful stop.
    public func disconnect() throws(AssayError) {
        _ = try call("Disconnect", baseBody())
    }

    /// Uploads one result file of an attempt; `409 LEASE_LOST` once the token no longer holds the job.
    public func uploadResultFile(jobId: String, token: Int64, file: ResultFile) throws(AssayError) {
        guard ResultFile.isValidName(file.name) else {
            throw AssayError.badRequest(
                "'\(file.name)' is not a valid result file name: use a plain name without '/', '..' or control "
                    + "characters.")
        }
        let path =
            Self.filesPath + Self.percentEncoded(providerName) + "/" + Self.percentEncoded(jobId) + "/"
            + Self.percentEncoded(file.name)
        var headers = authHeaders()
        headers.append((name: "X-Assay-Token", value: String(token)))
        headers.append((name: "Content-Type", value: file.contentType))
        let reply = try exchange(method: "PUT", path: path, headers: headers, body: file.bytes, what: "upload")
        if !(200..<300).contains(reply.status) { throw Self.decodeError(reply) }
    }

    // MARK: Requests

    private func baseBody() -> JSONObject {
        var body = JSONObject()
        body.appendUnchecked("providerName", .string(providerName))
        body.appendUnchecked("clientId", .string(clientId))
        return body
    }

    private func authHeaders() -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [(name: "Accept", value: "application/json")]
        if let key { headers.append((name: "appKey", value: key)) }
        return headers
    }

    private func call(_ service: String, _ body: JSONObject) throws(AssayError) -> JSONValue {
        var headers = authHeaders()
        headers.append((name: "Content-Type", value: "application/json"))
        let reply = try exchange(
            method: "POST", path: Self.servicesPath + service, headers: headers,
            body: JSON.serialize(.object(body)), what: service)
        guard (200..<300).contains(reply.status) else { throw Self.decodeError(reply) }
        do {
            return try JSON.parse(reply.body)
        } catch {
            throw Self.malformedReply(service, "it is not JSON (\(error))")
        }
    }

    /// Sends on a pooled transport, or a new one when all are busy. A transport that failed is closed
    /// and dropped; the transport itself retries a stale kept-alive connection where that is safe.
    private func exchange(
        method: String, path: String, headers: [(name: String, value: String)], body: [UInt8], what: String
    ) throws(AssayError) -> AgentTransportReply {
        let transport: AgentTransport
        if let pooled = lock.withLock({ idle.popLast() }) {
            transport = pooled
        } else {
            do {
                transport = try makeTransport()
            } catch {
                throw unreachable(what, error)
            }
        }
        do {
            let reply = try transport.exchange(method: method, path: path, headers: headers, body: body)
            lock.withLock { idle.append(transport) }
            return reply
        } catch {
            transport.close()
            throw unreachable(what, error)
        }
    }

    private func unreachable(_ what: String, _ error: any Error) -> AssayError {
        AssayError(
            status: 503, code: "SERVER_UNREACHABLE",
            message: "Could not reach \(serverDescription) for \(what): \(error). Check that the server runs "
                + "and that --url points at it.")
    }

    // MARK: Encoding and decoding

    static func json(_ ref: AttemptRef) -> JSONValue {
        .object(JSONObject([("jobId", .string(ref.jobId)), ("token", .int(ref.token))]))
    }

    static func reportBody(_ reports: [Report], base: JSONObject) -> JSONObject {
        var completions: [JSONValue] = []
        var failures: [JSONValue] = []
        for report in reports {
            var entry = JSONObject()
            entry.appendUnchecked("jobId", .string(report.jobId))
            entry.appendUnchecked("token", .int(report.token))
            switch report.outcome {
            case .completed(let results, _):
                entry.appendUnchecked("results", results)
                completions.append(.object(entry))
            case .failed(let code, let message, let details, let retryable):
                entry.appendUnchecked("errorCode", .string(code))
                entry.appendUnchecked("errorMessage", .string(message))
                entry.appendUnchecked("details", details.map { .string($0) } ?? .null)
                entry.appendUnchecked("retryable", .bool(retryable))
                failures.append(.object(entry))
            }
        }
        var body = base
        body.appendUnchecked("completions", .array(completions))
        body.appendUnchecked("failures", .array(failures))
        return body
    }

    /// Indices of `reports`, completions first, as the request body lists them.
    static func reportOrder(_ reports: [Report]) -> [Int] {
        reports.indices.filter { reports[$0].outcome.isCompleted }
            + reports.indices.filter {
                !reports[$0].outcome.isCompleted
            }
    }

    static func decodeError(_ reply: AgentTransportReply) -> AssayError {
        let retryAfter = reply.retryAfter.flatMap { Int($0.trimmingSpaces()) }
        if let value = try? JSON.parse(reply.body), case .object(let error)? = value["error"],
            let code = error["code"]?.stringValue
        {
            var details = JSONObject()
            for (k, v) in error where k != "code" && k != "message" { details.appendUnchecked(k, v) }
            return AssayError(
                status: reply.status, code: code,
                message: error["message"]?.stringValue ?? "The server answered \(code) without a message.",
                details: details, retryAfter: retryAfter)
        }
        let text = String(decoding: reply.body.prefix(200), as: UTF8.self)
        return AssayError(
            status: reply.status, code: "HTTP_\(reply.status)",
            message: "The server answered status \(reply.status) without an error body"
                + (text.isEmpty ? "." : ": \(text)"),
            retryAfter: retryAfter)
    }

    static func malformedReply(_ service: String, _ what: String) -> AssayError {
        AssayError(
            status: 502, code: "MALFORMED_REPLY",
            message: "The server's reply to \(service) does not follow the agent protocol: \(what). Check that "
                + "--url points at an Assay server of a matching version.")
    }

    /// Encodes everything but RFC 3986 unreserved characters, so ids and names stay one path segment.
    static func percentEncoded(_ segment: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(segment.utf8.count)
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension AssayError {
    /// Whether trying again later may help: the server is down, overloaded or failing inside.
    var isTransient: Bool { status >= 500 || status == 408 || status == 429 }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}

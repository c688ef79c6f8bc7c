import AssayEngine
import AssayHTTP
import AssayInfotable
import AssayStore

/// `Assay.AgentServicesAPI` (docs/agent-protocol.md) and the file repositories: model files
/// uploaded by admins, result files uploaded by agents and downloaded by users.
extension APIServer {
    static let agentResource = "Assay.AgentServicesAPI"

    func registerAgentServices() {
        let r = APIServer.agentResource
        register(r, "Connect", .agent, ["providerName", "clientId", "hostName", "models", "capacity", "health"]) {
            [engine] p, _ in
            let agent = AgentInfo(
                clientId: try APIServer.clientId(p), provider: try p.requiredString("providerName"),
                hostName: try p.string("hostName") ?? "", models: try p.stringArray("models") ?? [],
                capacity: try p.integer("capacity", in: 0...100_000) ?? 1)
            let health = try p.jsonObject("health").map { JSON.string(.object($0)) } ?? "{}"
            try await engine.connect(agent, healthJSON: health)
            return .json([
                "clientId": .string(agent.clientId), "leaseSeconds": .double(engine.configuration.leaseSeconds),
                "heartbeatSeconds": .double(engine.configuration.heartbeatSeconds),
            ])
        }
        register(r, "ClaimJobs", .agent, ["providerName", "clientId", "models", "maxJobs", "waitSeconds"]) {
            [engine] p, _ in
            let jobs = try await engine.claim(
                provider: try p.requiredString("providerName"), clientId: try APIServer.clientId(p),
                models: try p.stringArray("models"), maxJobs: try p.integer("maxJobs", in: 1...256) ?? 1,
                waitSeconds: try p.number("waitSeconds") ?? 20)
            return .bytes(APIServer.claimedJobsBody(jobs))
        }
        register(r, "Heartbeat", .agent, ["providerName", "clientId", "attempts", "health"]) { [engine] p, _ in
            let attempts = try APIServer.attemptRefs(p.json("attempts"))
            let health = try p.jsonObject("health").map { JSON.string(.object($0)) } ?? "{}"
            let abandoned = try await engine.heartbeat(
                provider: try p.requiredString("providerName"), clientId: try APIServer.clientId(p), attempts: attempts,
                healthJSON: health)
            return .json([
                "abandoned": .array(
                    abandoned.map { .object(JSONObject([("jobId", .string($0.jobId)), ("token", .int($0.token))])) }),
                "leaseSeconds": .double(engine.configuration.leaseSeconds),
            ])
        }
        register(r, "ReportJobs", .agent, ["providerName", "clientId", "completions", "failures"]) { [engine] p, _ in
            let reports = try APIServer.attemptReports(completions: p.json("completions"), failures: p.json("failures"))
            let outcomes = await engine.report(provider: try p.requiredString("providerName"), reports)
            return .json([
                "outcomes": .array(
                    outcomes.map { o in
                        var row = JSONObject([("jobId", .string(o.jobId)), ("accepted", .bool(o.error == nil))])
                        if let status = o.status { row["status"] = .string(status.rawValue) }
                        if let error = o.error {
                            row["error"] = .object(
                                JSONObject([("code", .string(error.code)), ("message", .string(error.message))]))
                        }
                        return .object(row)
                    })
            ])
        }
        register(r, "Disconnect", .agent, ["providerName", "clientId"]) { [engine] p, _ in
            try await engine.disconnect(
                provider: try p.requiredString("providerName"), clientId: try APIServer.clientId(p))
            return .json(.object(JSONObject()))
        }
    }

    static func clientId(_ p: ServiceParameters) throws -> String {
        let id = try p.requiredString("clientId")
        guard id.utf8.count <= 200 else { throw AssayError.badRequest("clientId must have at most 200 characters.") }
        return id
    }

    static func attemptRefs(_ value: JSONValue?) throws -> [AttemptRef] {
        guard let value else { return [] }
        guard let array = value.arrayValue else {
            throw AssayError.badRequest("attempts must be an array of {\"jobId\", \"token\"} objects.")
        }
        return try array.enumerated().map { i, item in
            guard let jobId = item["jobId"]?.stringValue, let token = item["token"]?.int64Value else {
                throw AssayError.badRequest("attempts[\(i)] must have a string jobId and an integer token.")
            }
            return AttemptRef(jobId: jobId, token: token)
        }
    }

    static func attemptReports(completions: JSONValue?, failures: JSONValue?) throws -> [AttemptReport] {
        var reports: [AttemptReport] = []
        if let completions {
            guard let array = completions.arrayValue else {
                throw AssayError.badRequest("completions must be an array of {jobId, token, results} objects.")
            }
            for (i, item) in array.enumerated() {
                guard let jobId = item["jobId"]?.stringValue, let token = item["token"]?.int64Value,
                    let results = item["results"]
                else {
                    throw AssayError.badRequest("completions[\(i)] must have jobId, an integer token and results.")
                }
                reports.append(.completed(jobId: jobId, token: token, results: results))
            }
        }
        if let failures {
            guard let array = failures.arrayValue else {
                throw AssayError.badRequest("failures must be an array of {jobId, token, errorCode, ...} objects.")
            }
            for (i, item) in array.enumerated() {
                guard let jobId = item["jobId"]?.stringValue, let token = item["token"]?.int64Value else {
                    throw AssayError.badRequest("failures[\(i)] must have jobId and an integer token.")
                }
                let failure = JobFailure(
                    errorCode: item["errorCode"]?.stringValue ?? "MODEL_FAILED",
                    message: item["errorMessage"]?.stringValue ?? "The model failed.",
                    details: item["details"]?.stringValue ?? "", retryable: item["retryable"]?.boolValue ?? false)
                reports.append(.failed(jobId: jobId, token: token, failure: failure))
            }
        }
        return reports
    }

    /// The ClaimJobs reply, with each job's stored input spliced in without parsing it again.
    static func claimedJobsBody(_ jobs: [ClaimedJob]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"jobs":["#.utf8)
        for (i, claimed) in jobs.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let job = claimed.job
            let head = JSONObject([
                ("jobId", .string(job.id)), ("providerName", .string(job.provider)), ("modelName", .string(job.model)),
                ("attempt", .int(Int64(job.attempt))), ("token", .int(claimed.token)),
                ("timeoutSeconds", .double(job.timeoutSeconds)),
                ("sessionId", job.sessionId.map { .string($0) } ?? .null),
                ("extraParams", (try? JSON.parse(job.extraParamsJSON)) ?? .object(JSONObject())),
                ("customData", job.customDataJSON.flatMap { try? JSON.parse($0) } ?? .null),
            ])
            JSON.write(.object(head), to: &out)
            out.removeLast()
            out.append(contentsOf: Array(#","input":"#.utf8))
            out.append(contentsOf: claimed.input)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: Array("]}".utf8))
        return out
    }

    // MARK: - File repositories

    /// `GET` (users) or `PUT` (the agent running the job, with `X-Assay-Token`) of a result file.
    func resultFile(_ request: HTTPRequest) async throws -> HTTPResponse {
        let parts = request.path.dropFirst(APIServer.resultRepository.count).split(
            separator: "/", omittingEmptySubsequences: false
        ).map(String.init)
        guard parts.count == 3, !parts.contains(where: \.isEmpty) else {
            throw AssayError.unknownFile(request.path)
        }
        let (provider, jobId, name) = (parts[0], parts[1], parts[2])
        try APIServer.checkFileName(name)
        let key = try await authenticate(request)
        switch request.method {
        case "GET":
            try APIServer.authorize(key, .user, provider: provider)
            let (info, data) = try await engine.file(provider: provider, jobId: jobId, name: name)
            return HTTPResponse(status: 200, headers: [(name: "Content-Type", value: info.contentType)], body: data)
        case "PUT":
            try APIServer.authorize(key, .agent, provider: provider)
            guard let tokenText = request.header("X-Assay-Token"), let token = Int64(tokenText) else {
                throw AssayError.badRequest(
                    "A result file upload needs the attempt's token in the X-Assay-Token header.")
            }
            let contentType = request.header("Content-Type") ?? "application/octet-stream"
            try await engine.uploadResultFile(
                provider: provider, jobId: jobId, token: token,
                file: FileInfo(name: name, contentType: contentType, size: Int64(request.body.count)),
                data: request.body)
            return .json(200, Array("{}".utf8))
        default:
            throw AssayError(
                status: 405, code: "METHOD_NOT_ALLOWED",
                message: "Result files are read with GET and uploaded with PUT.")
        }
    }

    /// `PUT` (admin) of a model file; `GET` returns it.
    func modelFile(_ request: HTTPRequest) async throws -> HTTPResponse {
        let parts = request.path.dropFirst(APIServer.modelRepository.count).split(
            separator: "/", omittingEmptySubsequences: false
        ).map(String.init)
        guard parts.count == 2, !parts.contains(where: \.isEmpty) else {
            throw AssayError.badRequest(
                "Model files live at \(APIServer.modelRepository)<providerName>/<fileName>; got '\(request.path)'.")
        }
        let (provider, name) = (parts[0], parts[1])
        try APIServer.checkFileName(name)
        let key = try await authenticate(request)
        try APIServer.authorize(key, .admin, provider: provider)
        switch request.method {
        case "PUT", "POST":
            try await engine.putModelFile(provider: provider, name: name, data: request.body)
            return .json(200, JSON.serialize(Infotable.single("result", .string, .string(request.path)).json))
        case "GET":
            guard let data = try await engine.store.modelFile(provider: provider, name: name) else {
                throw AssayError.unknownFile(request.path)
            }
            return HTTPResponse(
                status: 200, headers: [(name: "Content-Type", value: "application/octet-stream")], body: data)
        default:
            throw AssayError(
                status: 405, code: "METHOD_NOT_ALLOWED", message: "Model files are uploaded with PUT and read with GET."
            )
        }
    }

    /// File names stay inside their folder: no separators, no `..`, no control characters.
    static func checkFileName(_ name: String) throws {
        let bad =
            name.isEmpty || name == "." || name == ".." || name.utf8.count > 255
            || name.utf8.contains { $0 < 0x20 || $0 == 0x2F || $0 == 0x5C || $0 == 0x7F }
        if bad {
            throw AssayError.badRequest(
                "'\(name)' is not an acceptable file name: use a plain name without '/', '\\', '..' or control characters."
            )
        }
    }
}

import AssayEngine
import AssayInfotable
import AssayStore

/// `TW.AnalysisServices.JobManagementServicesAPI`: the eleven job services of SPEC §4.
extension APIServer {
    static let jobResource = "TW.AnalysisServices.JobManagementServicesAPI"
    static let submitParameters = ["providerName", "modelName", "inputParams", "extraParams", "customData"]
    static let jobParameters = ["providerName", "jobId"]

    func registerJobServices() {
        let r = APIServer.jobResource
        register(r, "SubmitJob", .user, APIServer.submitParameters) { [engine] p, context in
            let request = try await APIServer.submitRequest(p, context, engine)
            return .json(Infotable.single("result", .string, .string(try await engine.submit(request))).json)
        }
        register(r, "ExecuteJob", .user, APIServer.submitParameters) { [engine] p, context in
            let request = try await APIServer.submitRequest(p, context, engine)
            return .json(try await engine.execute(request).json)
        }
        register(r, "GetJobStatus", .user, APIServer.jobParameters) { [engine] p, _ in
            let job = try await engine.job(
                provider: try p.requiredString("providerName"), jobId: try p.requiredString("jobId"))
            return .json(Infotable.single("result", .string, .string(job.status.rawValue)).json)
        }
        register(r, "GetJobResults", .user, APIServer.jobParameters) { [engine] p, _ in
            .bytes(
                try await engine.resultBytes(
                    provider: try p.requiredString("providerName"), jobId: try p.requiredString("jobId")))
        }
        register(r, "GetJobResultFiles", .user, APIServer.jobParameters) { [engine] p, _ in
            let provider = try p.requiredString("providerName")
            let jobId = try p.requiredString("jobId")
            let rows = try await engine.files(provider: provider, jobId: jobId).map { file in
                JSONObject([
                    ("name", .string(file.name)),
                    (
                        "link",
                        .string(
                            APIServer.resultRepository + "\(provider)/\(jobId)/\(APIServer.percentEncode(file.name))")
                    ),
                    ("size", .int(file.size)), ("contentType", .string(file.contentType)),
                ])
            }
            return .json(Infotable(dataShape: Shapes.jobFiles, rows: rows).json)
        }
        register(r, "GetJobErrors", .user, APIServer.jobParameters) { [engine] p, _ in
            let rows = try await engine.errors(
                provider: try p.requiredString("providerName"), jobId: try p.requiredString("jobId")
            ).map { e in
                JSONObject([
                    ("jobId", .string(e.jobId)), ("attempt", .int(Int64(e.attempt))),
                    ("errorCode", .string(e.errorCode)),
                    ("errorMessage", .string(e.errorMessage)), ("details", .string(e.details)),
                    ("timestamp", .int(e.timestamp)),
                ])
            }
            return .json(Infotable(dataShape: Shapes.jobErrors, rows: rows).json)
        }
        register(r, "RetryJob", .user, APIServer.jobParameters) { [engine] p, _ in
            let job = try await engine.retry(
                provider: try p.requiredString("providerName"), jobId: try p.requiredString("jobId"))
            let message = "Job '\(job.id)' will run again as attempt \(job.attempt)."
            return .json(Infotable.single("result", .string, .string(message)).json)
        }
        register(r, "QueryJobs", .user, ["values", "query", "maxItems"]) { [engine] p, _ in
            let query = try JobQueryParser.parse(
                values: p.json("values"), query: p.json("query"), maxItems: p.number("maxItems"))
            let rows = try await engine.query(query).map(APIServer.solvableRow)
            return .json(Infotable(dataShape: Shapes.solvable, rows: rows).json)
        }
        register(r, "StartStatefulSession", .user, []) { [engine] _, context in
            let session = context.sessionId ?? JobID.randomHex(bytes: 16)
            if context.sessionId == nil {
                context.sessionId = session
                context.setCookie = session
            }
            try await engine.setSessionStateful(session, stateful: true)
            return .json(Infotable.single("result", .boolean, .bool(true)).json)
        }
        register(r, "EndStatefulSession", .user, []) { [engine] _, context in
            if let session = context.sessionId { try await engine.setSessionStateful(session, stateful: false) }
            return .json(Infotable.empty.json)
        }
        register(r, "IsStatefulSession", .user, []) { [engine] _, context in
            var stateful = false
            if let session = context.sessionId { stateful = try await engine.isSessionStateful(session) }
            return .json(Infotable.single("result", .boolean, .bool(stateful)).json)
        }
    }

    static func submitRequest(_ p: ServiceParameters, _ context: CallContext, _ engine: JobEngine) async throws
        -> SubmitRequest
    {
        var stateful: String?
        if let session = context.sessionId, try await engine.isSessionStateful(session) { stateful = session }
        return SubmitRequest(
            providerName: try p.requiredString("providerName"), modelName: try p.requiredString("modelName"),
            inputParams: try p.json("inputParams"), extraParams: try p.jsonObject("extraParams") ?? JSONObject(),
            customData: try p.json("customData"), statefulSessionId: stateful)
    }

    static func solvableRow(_ job: JobRecord) -> JSONObject {
        func optional(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        func time(_ t: Millis?) -> JSONValue { t.map { .int($0) } ?? .null }
        var customData: JSONValue = .null
        if let text = job.customDataJSON, let value = try? JSON.parse(text) { customData = value }
        return JSONObject([
            ("jobId", .string(job.id)), ("providerName", .string(job.provider)), ("modelName", .string(job.model)),
            ("status", .string(job.status.rawValue)), ("priority", .int(Int64(job.priority))),
            ("attempt", .int(Int64(job.attempt))), ("maxAttempts", .int(Int64(job.maxAttempts))),
            ("clientId", optional(job.clientId)), ("sessionId", optional(job.sessionId)),
            ("createdTime", .int(job.createdTime)), ("startTime", time(job.startTime)), ("endTime", time(job.endTime)),
            ("lastUpdated", .int(job.lastUpdated)), ("errorCode", optional(job.errorCode)),
            ("errorMessage", optional(job.errorMessage)),
            ("extraParams", (try? JSON.parse(job.extraParamsJSON)) ?? .object(JSONObject())),
            ("customData", customData),
        ])
    }

    static func percentEncode(_ name: String) -> String {
        var out = ""
        for byte in name.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) {
                out.append(c)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

import AssayInfotable
import Foundation
import Testing

/// The bad input of SPEC §2 and §3: each case gets its status and code, a message naming the
/// problem, and leaves the server healthy.
@Suite(.serialized) struct BadInputTests {
    struct Case: CustomStringConvertible, Sendable {
        let description: String
        let service: String
        let body: String
        let status: Int
        let code: String
        /// Words the message must contain.
        let mentions: [String]
    }

    static let submit = "TW.AnalysisServices.JobManagementServicesAPI/Services/SubmitJob"

    static func submitting(_ rows: String, extra: String = "{}") -> String {
        #"{"providerName": "calc", "modelName": "typed", "inputParams": {"rows": \#(rows)}, "extraParams": \#(extra)}"#
    }

    static let cases: [Case] = [
        Case(
            description: "malformed JSON", service: submit, body: #"{"providerName": "calc", "#, status: 400,
            code: "BAD_REQUEST", mentions: ["JSON"]),
        Case(
            description: "body not an object", service: submit, body: "[1, 2]", status: 400, code: "BAD_REQUEST",
            mentions: ["object"]),
        Case(
            description: "missing parameter", service: submit, body: #"{"providerName": "calc"}"#, status: 400,
            code: "BAD_REQUEST", mentions: ["modelName"]),
        Case(
            description: "unknown parameter", service: submit,
            body: #"{"providerName": "calc", "modelName": "typed", "colour": "red"}"#, status: 400,
            code: "BAD_REQUEST", mentions: ["colour"]),
        Case(
            description: "mistyped parameter", service: submit, body: #"{"providerName": 7, "modelName": "typed"}"#,
            status: 400, code: "BAD_REQUEST", mentions: ["providerName"]),
        Case(
            description: "deep nesting", service: submit, body: String(repeating: "[", count: 50_000), status: 400,
            code: "BAD_REQUEST", mentions: ["JSON"]),
        Case(
            description: "unknown provider", service: submit, body: #"{"providerName": "nope", "modelName": "m"}"#,
            status: 404, code: "UNKNOWN_PROVIDER", mentions: ["nope"]),
        Case(
            description: "unknown model", service: submit, body: #"{"providerName": "calc", "modelName": "nope"}"#,
            status: 404, code: "UNKNOWN_MODEL", mentions: ["nope"]),
        Case(
            description: "unknown job", service: "TW.AnalysisServices.JobManagementServicesAPI/Services/GetJobStatus",
            body: #"{"providerName": "calc", "jobId": "nope"}"#, status: 404, code: "UNKNOWN_JOB", mentions: ["nope"]),
        Case(
            description: "unknown service", service: "TW.AnalysisServices.JobManagementServicesAPI/Services/Frobnicate",
            body: "{}", status: 404, code: "NOT_FOUND", mentions: ["Frobnicate"]),
        Case(
            description: "unknown field in a row", service: submit, body: submitting(#"[{"count": 1, "size": 2}]"#),
            status: 400, code: "INVALID_INPUT", mentions: ["Row 0", "size"]),
        Case(
            description: "string for NUMBER", service: submit, body: submitting(#"[{"temp": "hot"}]"#), status: 400,
            code: "INVALID_INPUT", mentions: ["Row 0", "temp"]),
        Case(
            description: "1.5 for INTEGER", service: submit, body: submitting(#"[{"count": 1}, {"count": 1.5}]"#),
            status: 400, code: "INVALID_INPUT", mentions: ["Row 1", "count"]),
        Case(
            description: "INTEGER beyond 32 bits", service: submit, body: submitting(#"[{"count": 4294967296}]"#),
            status: 400, code: "INVALID_INPUT", mentions: ["Row 0", "count"]),
        Case(
            description: "above maxValue", service: submit, body: submitting(#"[{"temp": 1000}]"#), status: 400,
            code: "INVALID_INPUT", mentions: ["Row 0", "temp"]),
        Case(
            description: "bad DATETIME", service: submit, body: submitting(#"[{"when": "yesterday"}]"#), status: 400,
            code: "INVALID_INPUT", mentions: ["Row 0", "when"]),
        Case(
            description: "non-boolean BOOLEAN", service: submit, body: submitting(#"[{"ok": "yes"}]"#), status: 400,
            code: "INVALID_INPUT", mentions: ["Row 0", "ok"]),
        Case(
            description: "data shape disagreeing with the model", service: submit,
            body:
                #"{"providerName": "calc", "modelName": "typed", "inputParams": {"dataShape": {"fieldDefinitions": {"temp": {"name": "temp", "baseType": "STRING"}}}, "rows": [{"temp": "x"}]}}"#,
            status: 400, code: "INVALID_INPUT", mentions: ["temp"]),
        Case(
            description: "too many rows for 1x1", service: submit,
            body: #"{"providerName": "calc", "modelName": "single", "inputParams": {"rows": [{"x": 1}, {"x": 2}]}}"#,
            status: 400, code: "INVALID_INPUT", mentions: ["1x1"]),
        Case(
            description: "mistyped priority", service: submit, body: submitting("[]", extra: #"{"priority": "high"}"#),
            status: 400, code: "BAD_REQUEST", mentions: ["priority"]),
        Case(
            description: "unknown base type",
            service: "TW.AnalysisServices.ModelManagementServicesAPI/Services/CreateModelWithManualDatashapes",
            body:
                #"{"providerName": "calc", "modelName": "m2", "inputDatashapeJson": [{"name": "a", "baseType": "COLOUR"}], "outputDatashapeJson": []}"#,
            status: 400, code: "BAD_REQUEST", mentions: ["COLOUR"]),
        Case(
            description: "unknown filter type",
            service: "TW.AnalysisServices.JobManagementServicesAPI/Services/QueryJobs",
            body: #"{"query": {"filters": {"type": "Roughly", "fieldName": "status", "value": "x"}}}"#, status: 400,
            code: "BAD_REQUEST", mentions: ["Roughly"]),
        Case(
            description: "unknown query field",
            service: "TW.AnalysisServices.JobManagementServicesAPI/Services/QueryJobs",
            body: #"{"query": {"filters": {"type": "EQ", "fieldName": "colour", "value": "x"}}}"#, status: 400,
            code: "BAD_REQUEST", mentions: ["colour"]),
        Case(
            description: "name taken",
            service: "TW.AnalysisServices.ProviderManagementServicesAPI/Services/CreateProvider",
            body: #"{"providerName": "calc"}"#, status: 409, code: "CONFLICT", mentions: ["calc"]),
        Case(
            description: "retry of a waiting job",
            service: "TW.AnalysisServices.JobManagementServicesAPI/Services/RetryJob",
            body: "JOB", status: 409, code: "JOB_NOT_RETRYABLE", mentions: ["WAITING"]),
        Case(
            description: "results of a waiting job",
            service: "TW.AnalysisServices.JobManagementServicesAPI/Services/GetJobResults",
            body: "JOB", status: 409, code: "JOB_NOT_COMPLETED", mentions: ["WAITING"]),
    ]

    static let shared = SharedServer()

    final class SharedServer: @unchecked Sendable {
        lazy var server: ServerProcess = {
            let server = try! ServerProcess(arguments: ["--max-body-bytes", "65536"])
            let client = Client(server)
            try! client.createProvider("calc")
            try! client.createModel(
                "calc", "typed",
                input: [
                    ["name": "temp", "baseType": "NUMBER", "maxValue": 100],
                    ["name": "count", "baseType": "INTEGER"],
                    ["name": "when", "baseType": "DATETIME"],
                    ["name": "ok", "baseType": "BOOLEAN"],
                ])
            try! client.createModel("calc", "single", cardinality: "1x1")
            waitingJob = try! client.submit("calc", "typed", rows: [["temp": 1]])
            return server
        }()
        var waitingJob = ""
    }

    @Test(arguments: cases) func badRequestIsRefusedClearly(_ c: Case) throws {
        let server = BadInputTests.shared.server
        let client = Client(server)
        let body =
            c.body == "JOB"
            ? #"{"providerName": "calc", "jobId": "\#(BadInputTests.shared.waitingJob)"}"# : c.body
        let reply = try client.raw("POST", "/Thingworx/Resources/" + c.service, body: Array(body.utf8))
        #expect(reply.status == c.status, "\(c.description): \(reply.json)")
        #expect(reply.errorCode == c.code, "\(c.description): \(reply.json)")
        for word in c.mentions {
            #expect(reply.errorMessage.contains(word), "\(c.description): '\(reply.errorMessage)' should name \(word)")
        }
        if c.code == "INVALID_INPUT", c.mentions.first?.hasPrefix("Row") == true {
            #expect(reply.json["error"]?["row"] != nil && reply.json["error"]?["field"] != nil)
        }
        #expect(client.healthy)
    }

    @Test func keysAndRolesAreEnforced() throws {
        let server = BadInputTests.shared.server
        let anonymous = Client(port: server.port, key: nil)
        let noKey = try anonymous.job("GetJobStatus", ["providerName": "calc", "jobId": "x"])
        #expect(noKey.status == 401 && noKey.errorCode == "UNAUTHORIZED")
        let wrongKey = try Client(port: server.port, key: "ak_not_a_key").job("QueryJobs")
        #expect(wrongKey.status == 401)
        let admin = Client(server)
        let user = Client(port: server.port, key: try admin.userKey("user-\(UUID().uuidString.prefix(6))"))
        #expect(try user.job("QueryJobs").status == 200)
        let forbidden = try user.provider("CreateProvider", ["providerName": "mine"])
        #expect(forbidden.status == 403 && forbidden.errorCode == "FORBIDDEN")
        let agent = Client(
            port: server.port, key: try admin.agentKey("agent-\(UUID().uuidString.prefix(6))", providers: ["other"]))
        let notItsProvider = try agent.agent("Connect", ["providerName": "calc", "clientId": "c"])
        #expect(notItsProvider.status == 403 && notItsProvider.errorMessage.contains("calc"))
        #expect(try agent.job("QueryJobs").status == 403)
        #expect(anonymous.healthy)
    }

    @Test func wrongContentTypeAndOversizedBodies() throws {
        let server = BadInputTests.shared.server
        let client = Client(server)
        let text = try client.raw(
            "POST", "/Thingworx/Resources/" + BadInputTests.submit, body: Array("providerName=calc".utf8),
            contentType: "text/plain")
        #expect(text.status == 415 && text.errorCode == "UNSUPPORTED_MEDIA_TYPE")
        #expect(text.errorMessage.contains("text/plain"))
        let huge = BadInputTests.submitting(
            "[" + Array(repeating: #"{"temp": 1}"#, count: 10_000).joined(separator: ",") + "]")
        let tooLarge = try client.raw("POST", "/Thingworx/Resources/" + BadInputTests.submit, body: Array(huge.utf8))
        #expect(tooLarge.status == 413 && tooLarge.errorCode == "PAYLOAD_TOO_LARGE")
        #expect(tooLarge.errorMessage.contains("65536"))
        #expect(Client(server).healthy)
    }

    @Test func fileNamesNeverEscapeTheirFolder() throws {
        let server = BadInputTests.shared.server
        let client = Client(server)
        for path in ["calc/../../etc/passwd", "calc/x/..", "calc/x/%2e%2e", "calc/x/a%2Fb"] {
            let reply = try client.raw(
                "GET", "/Thingworx/FileRepositories/TW.AnalysisServices.JobResultRepository/" + path, contentType: nil)
            #expect(reply.status == 400 || reply.status == 404, "\(path): \(reply.json)")
        }
        #expect(client.healthy)
    }
}

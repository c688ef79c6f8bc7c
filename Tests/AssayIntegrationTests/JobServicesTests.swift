import AssayInfotable
import Foundation
import Testing

/// The job services end to end: a real server, real agents running shell scripts, over HTTP.
@Suite struct JobServicesTests {
    /// Doubles `x` into `y` and leaves a CSV result file.
    static let doubler = """
        cat > input.json
        echo "x,y" > "$ASSAY_OUTPUT_DIR/out.csv"
        exec python3 -c 'import json; t=json.load(open("input.json")); print(json.dumps({"rows":[{"y": r["x"]*2} for r in t["rows"]]}))'
        """

    @Test func submittedJobRunsOnAgentWithResultsAndFiles() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double", cardinality: "NxN")
        let agentKey = try client.agentKey("calc-agent", providers: ["calc"])
        let agent = try AgentProcess(
            server: server, key: agentKey, provider: "calc",
            models: ["double": script(server.dataDir, "double.sh", JobServicesTests.doubler)])
        defer { agent.kill(SIGTERM) }

        let jobId = try client.submit("calc", "double", rows: [["x": 1.5], ["x": 4]])
        #expect(try client.waitFor("calc", jobId, ["COMPLETED", "FAILED"]) == "COMPLETED")

        let results = try client.job("GetJobResults", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(results.status == 200)
        #expect(results.rows.map { $0["y"]?.doubleValue } == [3.0, 8.0])
        #expect(results.json["dataShape"]?["fieldDefinitions"]?["y"]?["baseType"] == "NUMBER")

        let files = try client.job("GetJobResultFiles", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(files.rows.count == 1)
        let link = try #require(files.rows.first?["link"]?.stringValue)
        #expect(link.hasSuffix("/calc/\(jobId)/out.csv"))
        #expect(files.rows.first?["size"]?.int64Value == 4)
        let download = try client.raw("GET", link, contentType: nil)
        #expect(download.status == 200)
        #expect(download.json == .string("x,y\n"))
        #expect(download.header("Content-Type") == "text/csv")

        let errors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(errors.status == 200 && errors.rows.isEmpty)
        #expect(errors.json["dataShape"]?["fieldDefinitions"]?["errorCode"] != nil)
    }

    @Test func executeJobWaitsForTheResult() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: ["double": script(server.dataDir, "double.sh", JobServicesTests.doubler)])
        defer { agent.kill(SIGTERM) }

        let reply = try client.job(
            "ExecuteJob", ["providerName": "calc", "modelName": "double", "inputParams": ["rows": [["x": 21]]]])
        #expect(reply.status == 200)
        #expect(reply.rows.first?["y"]?.doubleValue == 42)
        #expect(
            try client.job(
                "QueryJobs", ["query": ["filters": ["type": "EQ", "fieldName": "modelName", "value": "double"]]]
            ).rows.count == 1)
    }

    @Test func failingModelReportsItsErrorsAndExit75IsRetried() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "broken")
        try client.createModel("calc", "flaky")
        let dir = server.dataDir
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: [
                "broken": script(dir, "broken.sh", "echo 'reading the input failed: column x is empty' >&2\nexit 3\n"),
                "flaky": script(
                    dir, "flaky.sh",
                    "if [ \"$ASSAY_ATTEMPT\" = 1 ]; then echo 'database busy' >&2; exit 75; fi\necho '[{\"y\": 7}]'\n"),
            ])
        defer { agent.kill(SIGTERM) }

        let broken = try client.submit("calc", "broken", rows: [["x": 1]])
        #expect(try client.waitFor("calc", broken, ["FAILED", "COMPLETED"]) == "FAILED")
        let errors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(broken)])
        #expect(errors.rows.count == 1)
        #expect(errors.rows.first?["errorCode"] == "MODEL_FAILED")
        #expect(errors.rows.first?["attempt"]?.int64Value == 1)
        #expect(errors.rows.first?["details"]?.stringValue?.contains("column x is empty") == true)
        let notDone = try client.job("GetJobResults", ["providerName": "calc", "jobId": .string(broken)])
        #expect(notDone.status == 409 && notDone.errorCode == "JOB_NOT_COMPLETED")
        #expect(notDone.json["error"]?["status"] == "FAILED")

        let execute = try client.job(
            "ExecuteJob", ["providerName": "calc", "modelName": "broken", "inputParams": ["rows": [["x": 1]]]])
        #expect(execute.status == 422 && execute.errorCode == "JOB_FAILED")
        #expect(execute.json["error"]?["errorCode"] == "MODEL_FAILED")
        #expect(execute.json["error"]?["jobId"]?.stringValue != nil)

        let flaky = try client.submit("calc", "flaky", rows: [["x": 1]])
        #expect(try client.waitFor("calc", flaky, ["COMPLETED", "FAILED"], seconds: 30) == "COMPLETED")
        let flakyErrors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(flaky)])
        #expect(flakyErrors.rows.count == 1)
        #expect(try client.queryJob(flaky)?["attempt"]?.int64Value == 2)
        let results = try client.job("GetJobResults", ["providerName": "calc", "jobId": .string(flaky)])
        #expect(results.rows.first?["y"]?.doubleValue == 7)
    }

    @Test func retryOfFailedJobRunsNextAttempt() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "once")
        let marker = server.dataDir + "/failed-once"
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: [
                "once": script(
                    server.dataDir, "once.sh",
                    "if [ ! -f \(marker) ]; then touch \(marker); exit 2; fi\necho '[{\"y\": 1}]'\n")
            ])
        defer { agent.kill(SIGTERM) }

        let jobId = try client.submit("calc", "once", rows: [["x": 1]])
        #expect(try client.waitFor("calc", jobId, ["FAILED"]) == "FAILED")
        let waitingRetry = try client.job("RetryJob", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(waitingRetry.status == 200)
        #expect(waitingRetry.result?.stringValue?.contains("attempt 2") == true)
        #expect(try client.waitFor("calc", jobId, ["COMPLETED"]) == "COMPLETED")
        let again = try client.job("RetryJob", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(again.status == 409 && again.errorCode == "JOB_NOT_RETRYABLE")
        #expect(again.json["error"]?["status"] == "COMPLETED")
    }

    /// RetryJob of a running job abandons the running attempt: a result it sends later is refused.
    @Test func retryOfInProcessJobRefusesTheOldAttemptsResult() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let agentClient = Client(port: server.port, key: try client.agentKey("a", providers: ["calc"]))
        #expect(
            try agentClient.agent("Connect", ["providerName": "calc", "clientId": "manual", "models": ["double"]])
                .status == 200)

        let jobId = try client.submit("calc", "double", rows: [["x": 1]])
        let claim = try agentClient.agent(
            "ClaimJobs", ["providerName": "calc", "clientId": "manual", "maxJobs": 1, "waitSeconds": 5])
        let claimed = try #require(claim.json["jobs"]?.arrayValue?.first)
        let oldToken = try #require(claimed["token"]?.int64Value)
        #expect(claimed["input"]?["rows"]?.arrayValue?.first?["x"]?.doubleValue == 1)
        #expect(try client.status("calc", jobId) == "INPROCESS")

        let retry = try client.job("RetryJob", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(retry.status == 200)
        #expect(try client.status("calc", jobId) == "WAITING")

        let heartbeat = try agentClient.agent(
            "Heartbeat",
            [
                "providerName": "calc", "clientId": "manual",
                "attempts": [["jobId": .string(jobId), "token": .int(oldToken)]],
            ])
        #expect(heartbeat.json["abandoned"]?.arrayValue?.count == 1)

        let late = try agentClient.agent(
            "ReportJobs",
            [
                "providerName": "calc", "clientId": "manual",
                "completions": [["jobId": .string(jobId), "token": .int(oldToken), "results": ["rows": [["y": 2]]]]],
            ])
        let outcome = try #require(late.json["outcomes"]?.arrayValue?.first)
        #expect(outcome["accepted"] == false)
        #expect(outcome["error"]?["code"] == "LEASE_LOST")
        #expect(try client.status("calc", jobId) == "WAITING")

        let second = try agentClient.agent(
            "ClaimJobs", ["providerName": "calc", "clientId": "manual", "maxJobs": 1, "waitSeconds": 5])
        let next = try #require(second.json["jobs"]?.arrayValue?.first)
        #expect(next["attempt"]?.int64Value == 2)
        let newToken = try #require(next["token"]?.int64Value)
        #expect(newToken > oldToken)
        let done = try agentClient.agent(
            "ReportJobs",
            [
                "providerName": "calc", "clientId": "manual",
                "completions": [["jobId": .string(jobId), "token": .int(newToken), "results": [["y": 2]]]],
            ])
        #expect(done.json["outcomes"]?.arrayValue?.first?["accepted"] == true)
        #expect(try client.status("calc", jobId) == "COMPLETED")
        let errors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(errors.rows.first?["errorCode"] == "ABANDONED")
    }

    @Test func idempotencyKeyReturnsTheFirstJob() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let first = try client.submit("calc", "double", rows: [["x": 1]], extra: ["idempotencyKey": "order-17"])
        let second = try client.submit("calc", "double", rows: [["x": 2]], extra: ["idempotencyKey": "order-17"])
        let other = try client.submit("calc", "double", rows: [["x": 2]], extra: ["idempotencyKey": "order-18"])
        #expect(first == second)
        #expect(first != other)
        #expect(try client.job("QueryJobs").rows.count == 2)
    }

    @Test func higherPriorityRunsFirst() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let low = try client.submit("calc", "double", rows: [["x": 1]], extra: ["priority": 1])
        let high = try client.submit("calc", "double", rows: [["x": 1]], extra: ["priority": 9])
        let middle = try client.submit("calc", "double", rows: [["x": 1]], extra: ["priority": 5])
        let older = try client.submit("calc", "double", rows: [["x": 1]], extra: ["priority": 5])
        _ = older
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: ["double": script(server.dataDir, "double.sh", JobServicesTests.doubler)], concurrency: 1)
        defer { agent.kill(SIGTERM) }
        for id in [low, high, middle, older] { try client.waitFor("calc", id, ["COMPLETED"]) }
        let started = try [low, high, middle, older].map { try client.queryJob($0)?["startTime"]?.int64Value ?? 0 }
        #expect(started[1] <= started[2])
        #expect(started[2] <= started[3])
        #expect(started[3] <= started[0])
    }

    @Test func statefulSessionPinsItsJobsToOneAgent() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let key = try client.agentKey("a", providers: ["calc"])
        let command = script(server.dataDir, "double.sh", "sleep 0.2\n" + JobServicesTests.doubler)
        let agents = try (0..<2).map { i in
            try AgentProcess(
                server: server, key: key, provider: "calc", models: ["double": command], concurrency: 2,
                clientId: "agent-\(i)")
        }
        defer { agents.forEach { $0.kill(SIGTERM) } }

        #expect(try client.job("IsStatefulSession").result == false)
        let start = try client.job("StartStatefulSession")
        #expect(start.result == true)
        #expect(client.cookie?.hasPrefix("JSESSIONID=") == true)
        #expect(try client.job("IsStatefulSession").result == true)
        let ids = try (0..<8).map { i in try client.submit("calc", "double", rows: [["x": .int(Int64(i))]]) }
        for id in ids { #expect(try client.waitFor("calc", id, ["COMPLETED"]) == "COMPLETED") }
        let clients = try Set(ids.map { try client.queryJob($0)?["clientId"]?.stringValue ?? "" })
        #expect(clients.count == 1)
        let session = try client.queryJob(ids[0])?["sessionId"]?.stringValue
        #expect(session != nil && session != "")
        #expect(try client.job("EndStatefulSession").status == 200)
        #expect(try client.job("IsStatefulSession").result == false)
    }

    @Test func everyManagementServiceAnswers() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc", ["description": "arithmetic", "maxAttempts": 5, "maxConcurrentJobs": 2])
        let providers = try client.provider("GetProviders")
        #expect(providers.rows.first?["providerName"] == "calc")
        #expect(providers.rows.first?["maxAttempts"]?.int64Value == 5)
        #expect(try client.provider("UpdateProvider", ["providerName": "calc", "maxAttempts": 4]).status == 200)
        #expect(try client.provider("GetProviders").rows.first?["maxAttempts"]?.int64Value == 4)
        #expect(try client.provider("CreateProvider", ["providerName": "calc"]).errorCode == "CONFLICT")

        try client.createModel("calc", "double", cardinality: "NxN")
        let models = try client.model("GetModels", ["providerName": "calc"])
        #expect(models.rows.first?["state"] == "ENABLED")
        #expect(models.rows.first?["inputsToResultsCardinality"] == "NxN")
        let shapes = try client.model("GetModelDatashapes", ["providerName": "calc", "modelName": "double"])
        #expect(shapes.rows.first?["input"]?["rows"]?.arrayValue?.first?["name"] == "x")
        #expect(shapes.rows.first?["result"]?["rows"]?.arrayValue?.first?["name"] == "y")

        #expect(try client.model("DisableModel", ["providerName": "calc", "modelName": "double"]).status == 200)
        let disabled = try client.job(
            "SubmitJob", ["providerName": "calc", "modelName": "double", "inputParams": ["rows": [["x": 1]]]])
        #expect(disabled.status == 409 && disabled.errorCode == "MODEL_DISABLED")
        #expect(try client.model("EnableModel", ["providerName": "calc", "modelName": "double"]).status == 200)
        let jobId = try client.submit("calc", "double", rows: [["x": 1]])
        #expect(
            try client.model("DeleteModel", ["providerName": "calc", "modelName": "double"]).errorCode == "CONFLICT")
        #expect(try client.provider("DeleteProvider", ["providerName": "calc"]).errorCode == "CONFLICT")
        #expect(try client.status("calc", jobId) == "WAITING")

        // A model created from an uploaded file.
        let file =
            #"{"inputDatashapeJson": [{"name": "a", "baseType": "STRING"}], "outputDatashapeJson": [{"name": "b", "baseType": "BOOLEAN"}]}"#
        let upload = try client.raw(
            "PUT", "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/calc/check.json",
            body: Array(file.utf8), contentType: "application/octet-stream")
        #expect(upload.status == 200)
        let fromFile = try client.model(
            "CreateModelAndDatashapesFromFile",
            [
                "providerName": "calc", "modelName": "check",
                "fileURL": "/Thingworx/FileRepositories/TW.AnalysisServices.ModelRepository/calc/check.json",
            ])
        #expect(fromFile.status == 200)
        let checkShapes = try client.model("GetModelDatashapes", ["providerName": "calc", "modelName": "check"])
        #expect(checkShapes.rows.first?["input"]?["rows"]?.arrayValue?.first?["baseType"] == "STRING")

        // Connected clients and keys.
        let agentKey = try client.agentKey("calc-agent", providers: ["calc"])
        let agentClient = Client(port: server.port, key: agentKey)
        #expect(
            try agentClient.agent(
                "Connect",
                ["providerName": "calc", "clientId": "c1", "hostName": "h", "models": ["double"], "capacity": 3]
            ).status == 200)
        let clients = try client.provider("GetConnectedClients", ["providerName": "calc"])
        #expect(clients.rows.first?["clientId"] == "c1")
        #expect(clients.rows.first?["capacity"]?.int64Value == 3)
        let keys = try client.call("Assay.KeyManagementServicesAPI", "GetKeys")
        #expect(Set(keys.rows.compactMap { $0["name"]?.stringValue }) == ["admin", "calc-agent"])
        #expect(keys.rows.allSatisfy { $0["key"] == nil && $0["hash"] == nil })
        #expect(try client.call("Assay.KeyManagementServicesAPI", "DeleteKey", ["name": "calc-agent"]).status == 200)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try agentClient.agent("Connect", ["providerName": "calc", "clientId": "c1"]).status == 401)
    }
}

import AssayInfotable
import Foundation
import Testing

/// Crashes: an agent or the server killed with SIGKILL loses nothing that was accepted.
@Suite struct FailureTests {
    @Test func jobOfKilledAgentCompletesOnAnotherAgentWithin30Seconds() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "slow")
        let key = try client.agentKey("a", providers: ["calc"])
        let marker = server.dataDir + "/started"
        // The first attempt writes its process group to the marker and hangs; later attempts answer at
        // once. The agent runs each command in a process group of its own, which outlives a killed agent.
        let command = script(
            server.dataDir, "slow.sh",
            """
            if [ "$ASSAY_ATTEMPT" = 1 ]; then
              read -r _ _ _ _ group _ < /proc/$$/stat
              echo "$group" > \(marker).tmp && mv \(marker).tmp \(marker)
              sleep 60
            fi
            echo '[{"y": 5}]'

            """)
        let doomed = try AgentProcess(server: server, key: key, provider: "calc", models: ["slow": command])
        let jobId = try client.submit("calc", "slow", rows: [["x": 1]])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let orphanGroup = try #require(
            (try? String(contentsOfFile: marker, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            })
        #expect(orphanGroup > 1 && orphanGroup != getpgrp())
        // The hanging command is orphaned by the kill; it must not linger after the test.
        defer { if orphanGroup > 1 && orphanGroup != getpgrp() { kill(-orphanGroup, SIGKILL) } }
        #expect(try client.status("calc", jobId) == "INPROCESS")

        let killedAt = Date()
        doomed.kill(SIGKILL)
        #expect(Date().timeIntervalSince(killedAt) < 5, "killing the agent waited for the command it left running")
        let survivor = try AgentProcess(server: server, key: key, provider: "calc", models: ["slow": command])
        defer { survivor.kill(SIGTERM) }
        #expect(try client.waitFor("calc", jobId, ["COMPLETED"], seconds: 30) == "COMPLETED")
        #expect(Date().timeIntervalSince(killedAt) < 30)
        let errors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(jobId)])
        #expect(errors.rows.first?["errorCode"] == "LEASE_EXPIRED")
        #expect(try client.queryJob(jobId)?["attempt"]?.int64Value == 2)
    }

    @Test func serverKilledAfterAcceptingJobsKeepsEveryJob() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        var accepted: [String] = []
        for i in 0..<200 { accepted.append(try client.submit("calc", "double", rows: [["x": .int(Int64(i))]])) }

        server.kill(SIGKILL)
        try server.restart()
        let after = Client(server)
        let listed = try after.job("QueryJobs", ["maxItems": 10000]).rows.compactMap { $0["jobId"]?.stringValue }
        #expect(Set(listed) == Set(accepted))
        for id in accepted.prefix(5) { #expect(try after.status("calc", id) == "WAITING") }

        // They still run after the restart.
        let agent = try AgentProcess(
            server: server, key: try after.agentKey("a", providers: ["calc"]), provider: "calc",
            models: ["double": script(server.dataDir, "double.sh", JobServicesTests.doubler)], concurrency: 4)
        defer { agent.kill(SIGTERM) }
        #expect(try after.waitFor("calc", accepted.last!, ["COMPLETED"], seconds: 60) == "COMPLETED")
    }

    @Test func inProcessJobsAreRecoveredAfterServerRestart() throws {
        let server = try ServerProcess(arguments: ["--lease-seconds", "3"])
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")
        let agentClient = Client(port: server.port, key: try client.agentKey("a", providers: ["calc"]))
        _ = try agentClient.agent("Connect", ["providerName": "calc", "clientId": "gone", "models": ["double"]])
        let jobId = try client.submit("calc", "double", rows: [["x": 1]])
        let claim = try agentClient.agent("ClaimJobs", ["providerName": "calc", "clientId": "gone", "waitSeconds": 5])
        #expect(claim.json["jobs"]?.arrayValue?.count == 1)

        server.kill(SIGKILL)
        try server.restart()
        let after = Client(server)
        #expect(try after.status("calc", jobId) == "INPROCESS")
        #expect(try after.waitFor("calc", jobId, ["WAITING"], seconds: 15) == "WAITING")
        #expect(try after.queryJob(jobId)?["attempt"]?.int64Value == 2)
    }

    @Test func commandAgentStopsGracefullyOnSigterm() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "slow")
        let started = server.dataDir + "/started"
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: ["slow": script(server.dataDir, "slow.sh", "touch \(started); sleep 1; echo '[{\"y\": 1}]'\n")])
        let jobId = try client.submit("calc", "slow", rows: [["x": 1]])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: started) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(agent.pid, SIGTERM)
        agent.process.waitUntilExit()
        #expect(agent.process.terminationStatus == 0)
        #expect(try client.status("calc", jobId) == "COMPLETED")
        #expect(try client.provider("GetConnectedClients", ["providerName": "calc"]).rows.isEmpty)
    }
}

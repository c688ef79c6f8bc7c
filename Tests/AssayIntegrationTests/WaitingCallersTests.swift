import AssayHTTP
import AssayInfotable
import Foundation
import Synchronization
import Testing

/// Callers that wait (ExecuteJob, agent long polls) hold no server thread, and a server that has
/// too many requests in flight says so instead of queueing without bound.
@Suite struct WaitingCallersTests {
    static let executeBody = Array(
        #"{"providerName": "calc", "modelName": "double", "inputParams": {"rows": [{"x": 1}]}, "extraParams": {"waitSeconds": 6}}"#
            .utf8)

    /// Starts `count` ExecuteJob callers on their own connections; returns their statuses when done.
    final class Statuses: Sendable {
        let values = Mutex<[Int]>([])
        func withLock<R>(_ body: (inout [Int]) -> R) -> R { values.withLock { body(&$0) } }
    }

    static func startExecutes(_ server: ServerProcess, count: Int) -> (DispatchGroup, Statuses) {
        let group = DispatchGroup()
        let statuses = Statuses()
        for _ in 0..<count {
            // A thread each: the callers block, and the shared dispatch pool would cap how many run.
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let http = HTTPClient(host: "127.0.0.1", port: server.port, timeoutSeconds: 60)
                let status =
                    (try? http.send(
                        method: "POST",
                        path: "/Thingworx/Resources/TW.AnalysisServices.JobManagementServicesAPI/Services/ExecuteJob",
                        headers: [
                            (name: "Content-Type", value: "application/json"), (name: "appKey", value: server.adminKey),
                        ], body: executeBody
                    ).status) ?? -1
                statuses.withLock { $0.append(status) }
            }
        }
        return (group, statuses)
    }

    @Test func hundredsOfWaitingExecuteCallersDoNotBlockOtherRequests() throws {
        let server = try ServerProcess()
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")

        let (group, statuses) = WaitingCallersTests.startExecutes(server, count: 300)
        // Let them all arrive and park.
        let deadline = Date().addingTimeInterval(20)
        while try client.job("QueryJobs", ["maxItems": 1000]).rows.count < 300 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(try client.job("QueryJobs", ["maxItems": 1000]).rows.count == 300)

        // While they wait, other requests are answered promptly.
        for _ in 0..<20 {
            let start = Date()
            #expect(try client.provider("GetProviders").status == 200)
            #expect(Date().timeIntervalSince(start) < 1)
        }

        // An agent arrives; every waiting caller gets its result.
        let agent = try AgentProcess(
            server: server, key: try client.agentKey("a", providers: ["calc"]), provider: "calc",
            models: ["double": script(server.dataDir, "echo.sh", "echo '[{\"y\": 2}]'\n")], concurrency: 8)
        defer { agent.kill(SIGTERM) }
        group.wait()
        let answered = statuses.withLock { $0 }
        #expect(answered.count == 300)
        #expect(answered.filter { $0 == 200 }.count + answered.filter { $0 == 504 }.count == 300)
        #expect(answered.filter { $0 == 200 }.count > 0)
    }

    @Test func tooManyRequestsInFlightAreTurnedAwayWithRetryAfter() throws {
        let server = try ServerProcess(arguments: ["--max-in-flight", "5"])
        defer { server.kill(SIGTERM) }
        let client = Client(server)
        try client.createProvider("calc")
        try client.createModel("calc", "double")

        let (group, statuses) = WaitingCallersTests.startExecutes(server, count: 5)
        Thread.sleep(forTimeInterval: 1)
        let refused = try client.provider("GetProviders")
        #expect(refused.status == 503 && refused.errorCode == "OVERLOADED")
        #expect(refused.header("Retry-After") == "1")
        #expect(client.healthy)
        group.wait()
        #expect(statuses.withLock { $0 }.allSatisfy { $0 == 504 })
        #expect(try client.provider("GetProviders").status == 200)
    }
}

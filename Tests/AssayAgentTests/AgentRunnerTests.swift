import AssayInfotable
import Testing

@testable import AssayAgent

/// The runner against the in-process fake server: batching, failures, refusals, outages, abandoned
/// attempts and stopping.
@Suite struct AgentRunnerTests {
    struct Handler: JobHandler {
        let body: @Sendable (AgentJob, CancellationFlag) -> JobOutcome
        func run(_ job: AgentJob, cancellation: CancellationFlag) -> JobOutcome { body(job, cancellation) }
    }

    static let quiet = AgentLog { _ in }

    func start(
        _ server: FakeAgentServer, concurrency: Int = 4, grace: Double = 30,
        _ body: @escaping @Sendable (AgentJob, CancellationFlag) -> JobOutcome
    ) -> (AgentRunner, FakeAgentServer) {
        var configuration = AgentRunner.Configuration(models: ["m"], concurrency: concurrency, hostName: "h")
        configuration.gracePeriodSeconds = grace
        configuration.maxBackoffSeconds = 0.1
        let runner = AgentRunner(
            connection: server.connection(), handler: Handler(body: body), configuration: configuration,
            log: Self.quiet)
        AgentThread.start(name: "runner") { try? runner.run() }
        return (runner, server)
    }

    /// Stops the runner and waits until it disconnected.
    func stop(_ runner: AgentRunner, _ server: FakeAgentServer, graceful: Bool = true) {
        runner.stop(graceful: graceful)
        #expect(server.wait { server.disconnects == 1 })
    }

    @Test func completesJobsInBatches() {
        let server = FakeAgentServer()
        let (runner, _) = start(server, concurrency: 8) { job, _ in .completed(["rows": [["id": .string(job.jobId)]]]) }
        server.add(2000)
        #expect(server.wait { server.completions.count == 2000 })
        stop(runner, server)
        let s = runner.statistics
        #expect(s.completed == 2000)
        #expect(s.claimed == 2000)
        #expect(s.reportRequests < 2000)
        #expect(server.completions[5]?["rows"]?.arrayValue?.first?["id"] == "job-5")
    }

    @Test func throughputWithNoOpHandler() {
        let server = FakeAgentServer()
        let (runner, _) = start(server, concurrency: 256) { _, _ in .completed(["rows": []]) }
        let count = 50_000
        let begin = MonotonicClock.now()
        server.add(count)
        #expect(server.wait(seconds: 60) { server.completions.count == count })
        let rate = Double(count) / (MonotonicClock.now() - begin)
        stop(runner, server)
        print("agent runner: \(Int(rate)) jobs/s through the fake server")
        // Release builds do ~25,000/s on two cores, fake server included; debug builds are far slower.
        #if DEBUG
            #expect(rate > 1_000)
        #else
            #expect(rate > 5_000)
        #endif
    }

    @Test func failuresAreReportedWithRetryable() {
        let server = FakeAgentServer()
        let (runner, _) = start(server) { job, _ in
            job.token % 2 == 0
                ? .failed(errorCode: "MODEL_FAILED", message: "no", details: "tail", retryable: job.token == 2)
                : .completed(["rows": []])
        }
        server.add(6)
        #expect(server.wait { server.completions.count == 3 && server.failures.count == 3 })
        #expect(server.failures[2]?.retryable == true)
        #expect(server.failures[4]?.retryable == false)
        #expect(server.failures[6]?.code == "MODEL_FAILED")
        stop(runner, server)
        #expect(runner.statistics.failed == 3)
    }

    @Test func leaseLostReportsAreDropped() {
        let server = FakeAgentServer()
        server.lostTokens = [2]
        let (runner, _) = start(server) { _, _ in .completed(["rows": []]) }
        server.add(3)
        #expect(server.wait { server.completions.count == 2 })
        #expect(server.wait { runner.statistics.refused == 1 })
        stop(runner, server)
        #expect(server.completions[2] == nil)
    }

    @Test func outcomesSurviveAnOutage() {
        let server = FakeAgentServer()
        let (runner, _) = start(server) { _, _ in .completed(["rows": []]) }
        server.add(4)
        #expect(server.wait { server.completions.count == 4 })
        // Down between claim and report: the outcomes wait and go through once it is back.
        server.lock.withLock { server.down = true }
        AgentThread.sleep(seconds: 0.3)
        server.lock.withLock { server.down = false }
        server.add(4, firstToken: 100)
        #expect(server.wait { server.completions.count == 8 })
        #expect(server.wait { runner.statistics.completed == 8 })
        #expect(server.connects >= 2)  // reconnected after the outage
        stop(runner, server)
    }

    @Test func reportsWaitWhileTheServerIsDown() {
        let server = FakeAgentServer()
        let release = CancellationFlag()
        let (runner, _) = start(server) { _, _ in
            while !release.isCancelled { AgentThread.sleep(seconds: 0.01) }
            return .completed(["rows": []])
        }
        server.add(3)
        #expect(server.wait { server.waiting.isEmpty })
        AgentThread.sleep(seconds: 0.1)
        server.lock.withLock { server.down = true }
        release.cancel()
        AgentThread.sleep(seconds: 0.5)
        #expect(server.lock.withLock { server.completions.isEmpty })
        server.lock.withLock { server.down = false }
        #expect(server.wait { server.completions.count == 3 })
        stop(runner, server)
    }

    @Test func abandonedAttemptsAreCancelledAndNotReported() {
        let server = FakeAgentServer()
        server.heartbeatSeconds = 0.1
        server.abandonTokens = [1]
        let (runner, _) = start(server) { job, flag in
            if job.token == 1 {
                while !flag.isCancelled { AgentThread.sleep(seconds: 0.01) }
            }
            return .completed(["rows": []])
        }
        server.add(2)
        #expect(server.wait { server.completions.count == 1 && !server.heartbeats.isEmpty })
        #expect(server.wait { runner.statistics.abandoned == 1 })
        stop(runner, server)
        #expect(server.completions[1] == nil)
        #expect(server.heartbeats.first?.contains(1) == true)
    }

    @Test func filesAreUploadedBeforeTheReport() {
        let server = FakeAgentServer()
        let (runner, _) = start(server) { _, _ in
            .completed(
                results: ["rows": []],
                files: [ResultFile(name: "a b.csv", contentType: "text/csv", bytes: Array("x,y\n".utf8))])
        }
        server.add(1)
        #expect(server.wait { server.completions.count == 1 })
        stop(runner, server)
        #expect(server.uploads.count == 1)
        #expect(server.uploads.first?.name == "a%20b.csv")
        #expect(server.uploads.first?.contentType == "text/csv")
        #expect(server.uploads.first?.size == 4)
    }

    @Test func gracefulStopLetsRunningJobsFinish() {
        let server = FakeAgentServer()
        let (runner, _) = start(server, concurrency: 2) { _, _ in
            AgentThread.sleep(seconds: 0.3)
            return .completed(["rows": []])
        }
        server.add(2)
        #expect(server.wait { server.waiting.isEmpty })
        AgentThread.sleep(seconds: 0.05)
        stop(runner, server)
        #expect(server.completions.count == 2)
        #expect(runner.statistics.cancelled == 0)
    }

    @Test func graceExpiryCancelsTheRest() {
        let server = FakeAgentServer()
        let (runner, _) = start(server, concurrency: 2, grace: 0.2) { _, flag in
            while !flag.isCancelled { AgentThread.sleep(seconds: 0.01) }
            return .completed(["rows": []])
        }
        server.add(2)
        #expect(server.wait { server.waiting.isEmpty })
        AgentThread.sleep(seconds: 0.05)
        let begin = MonotonicClock.now()
        stop(runner, server)
        #expect(MonotonicClock.now() - begin < 3)
        #expect(server.completions.isEmpty)
        #expect(runner.statistics.cancelled == 2)
    }

    @Test func stopBeforeRunReturnsAtOnce() throws {
        let server = FakeAgentServer()
        let runner = AgentRunner(
            connection: server.connection(), handler: Handler { _, _ in .completed(["rows": []]) },
            configuration: .init(models: ["m"], concurrency: 1), log: Self.quiet)
        runner.stop()
        try runner.run()
        #expect(server.connects == 0)
    }

    @Test func waitsForAnUnreachableServerUntilStopped() {
        let server = FakeAgentServer()
        server.down = true
        let runner = AgentRunner(
            connection: server.connection(), handler: Handler { _, _ in .completed(["rows": []]) },
            configuration: .init(models: ["m"], concurrency: 1), log: Self.quiet)
        let returned = CancellationFlag()
        AgentThread.start(name: "runner") {
            try? runner.run()
            returned.cancel()
        }
        AgentThread.sleep(seconds: 0.3)
        #expect(!returned.isCancelled)
        runner.stop()
        #expect(server.wait { returned.isCancelled })
        #expect(server.connects == 0)
    }

    @Test func errorBodiesBecomeAssayErrors() {
        let e = AgentConnection.decodeError(
            AgentTransportReply(
                status: 503, retryAfter: "2",
                body: Array(#"{"error": {"code": "OVERLOADED", "message": "busy", "queue": 3}}"#.utf8)))
        #expect(e.status == 503)
        #expect(e.code == "OVERLOADED")
        #expect(e.message == "busy")
        #expect(e.retryAfter == 2)
        #expect(e.details["queue"] == 3)
        #expect(e.isTransient)
        let plain = AgentConnection.decodeError(AgentTransportReply(status: 404, body: Array("nope".utf8)))
        #expect(plain.code == "HTTP_404")
        #expect(!plain.isTransient)
    }

    @Test func reportOutcomesFollowTheRequestOrder() throws {
        // Failures are sent after completions; outcomes come back in input order regardless.
        final class Echo: AgentTransport {
            func exchange(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8])
                throws -> AgentTransportReply
            {
                let request = try JSON.parse(body)
                let ids = (request["completions"]!.arrayValue! + request["failures"]!.arrayValue!).map { $0["jobId"]! }
                let outcomes: [JSONValue] = ids.map { ["jobId": $0, "accepted": .bool($0 != "b")] }
                return AgentTransportReply(status: 200, body: JSON.serialize(["outcomes": .array(outcomes)]))
            }
            func close() {}
        }
        let connection = AgentConnection(providerName: "p", clientId: "c", key: nil) { Echo() }
        let failed = JobOutcome.failed(errorCode: "X", message: "m", details: nil, retryable: false)
        let outcomes = try connection.reportJobs([
            .init(jobId: "a", token: 1, outcome: failed),
            .init(jobId: "b", token: 2, outcome: .completed(["rows": []])),
            .init(jobId: "c", token: 3, outcome: failed),
        ])
        #expect(outcomes.map(\.jobId) == ["a", "b", "c"])
        #expect(outcomes.map(\.accepted) == [true, false, true])
    }
}

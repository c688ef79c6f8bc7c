import AssayInfotable
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Clusters: several servers on one PostgreSQL database keep every accepted job, and run each to
/// completion exactly once, when the server holding the maintenance role dies or when PostgreSQL
/// itself restarts. They need a PostgreSQL: `ASSAY_TEST_POSTGRES_URL` (a database they may make
/// schemas in) and, for the restart, `ASSAY_TEST_POSTGRES_CTL` (`scripts/postgres`, to run a
/// cluster of their own); `scripts/test` sets both. Without them the tests are skipped.
@Suite(.enabled(if: TestStore.postgresURL != nil, "needs a PostgreSQL: set ASSAY_TEST_POSTGRES_URL"))
struct ClusterTests {
    static let lease = ["--lease-seconds", "3"]

    /// The model every agent runs: y = 2x, after sleeping `pause` seconds, and a line
    /// "<job id> <attempt>" in `log` for every attempt it starts.
    static func model(dir: String, log: String) -> String {
        script(
            dir, "double.sh",
            """
            echo "$ASSAY_JOB_ID $ASSAY_ATTEMPT" >> \(log)
            python=/usr/bin/python3
            [ -x $python ] || python=python3
            exec $python -c 'import json, sys, time
            rows = json.load(sys.stdin)["rows"]
            time.sleep(max([r.get("pause") or 0 for r in rows] + [0]))
            print(json.dumps([{"y": r["x"] * 2} for r in rows]))'

            """)
    }

    static let pausedInput: JSONValue = [
        ["name": "x", "baseType": "NUMBER"], ["name": "pause", "baseType": "NUMBER"],
    ]

    @Test func killingTheMaintenanceServerLosesAndDuplicatesNoJob() throws {
        let servers = try ServerProcess.cluster(3, database: try TestStore.sharedDatabaseURL(), arguments: Self.lease)
        defer { for server in servers { server.kill(SIGTERM) } }
        let clients = servers.map { Client($0) }
        try clients[0].createProvider("calc")
        try clients[0].createModel("calc", "double", input: Self.pausedInput)
        // `via<i>` runs only on the agent attached to server i: an ExecuteJob for it sent to another
        // server is carried across the cluster both ways (job to the agent, result to the caller).
        for i in servers.indices { try clients[0].createModel("calc", "via\(i)") }
        let log = servers[0].dataDir + "/attempts.log"
        let model = Self.model(dir: servers[0].dataDir, log: log)
        let key = try clients[0].agentKey("agents", providers: ["calc"])
        let agents = try servers.indices.map { i in
            try AgentProcess(
                server: servers[i], key: key, provider: "calc", models: ["double": model, "via\(i)": model],
                concurrency: 4, clientId: "agent-\(i)")
        }
        defer { for agent in agents { agent.kill(SIGTERM) } }

        // Every tenth job takes two seconds, so that the kill finds jobs running on every agent.
        var accepted: [String: Int64] = [:]
        for i in 0..<150 {
            let id = try clients[i % 3].submit(
                "calc", "double", rows: [["x": .int(Int64(i)), "pause": i % 10 == 9 ? 2 : 0]])
            accepted[id] = Int64(i)
        }
        #expect(accepted.count == 150)
        let doomed = try #require(try maintenanceHolder(among: clients, seconds: 10), "no server holds maintenance")
        let doomedRunning = eventually(seconds: 15) {
            let running = try? clients[doomed].job(
                "QueryJobs", ["values": ["rows": [["status": "INPROCESS", "clientId": .string("agent-\(doomed)")]]]])
            return running?.rows.isEmpty == false
        }
        #expect(doomedRunning, "the agent of the server to be killed should be running jobs when it dies")

        // The server and the agent beside it die together, as when their machine goes. An agent
        // left running would only retry against a dead address while its leases ran out, which is
        // the same loss seen from the cluster.
        servers[doomed].kill(SIGKILL)
        agents[doomed].kill(SIGKILL)
        let survivors = servers.indices.filter { $0 != doomed }

        let handedOver = Date()
        let holder = try maintenanceHolder(among: survivors.map { clients[$0] }, seconds: 10)
        #expect(holder != nil, "a surviving server should take the maintenance role")
        #expect(Date().timeIntervalSince(handedOver) < 10)

        // ExecuteJob on each survivor for the model only the other survivor's agent runs.
        var executes = 0
        for (caller, runner) in [(survivors[0], survivors[1]), (survivors[1], survivors[0])] {
            for x in 0..<3 {
                let reply = try clients[caller].job(
                    "ExecuteJob",
                    [
                        "providerName": "calc", "modelName": .string("via\(runner)"),
                        "inputParams": ["rows": [["x": .int(Int64(1000 + x))]]], "extraParams": ["waitSeconds": 30],
                    ])
                #expect(reply.status == 200, "ExecuteJob on server \(caller): \(reply.json)")
                #expect(reply.rows.first?["y"]?.doubleValue == Double(2 * (1000 + x)))
                executes += 1
            }
        }

        let observer = clients[survivors[0]]
        let jobs = try finishedJobs(observer, count: accepted.count + executes, seconds: 45)
        let submitted = jobs.filter { $0["modelName"]?.stringValue == "double" }
        #expect(submitted.compactMap { $0["jobId"]?.stringValue }.sorted() == accepted.keys.sorted())
        try expectCompletedOnce(jobs, log: log, client: observer)
        try expectResults(submitted, accepted, client: observer)
        for job in jobs where job["modelName"]?.stringValue != "double" {
            let runner = job["modelName"]?.stringValue?.dropFirst("via".count) ?? "?"
            #expect(job["clientId"]?.stringValue == "agent-\(runner)")
        }
        let rescued = submitted.filter { ($0["attempt"]?.int64Value ?? 0) > 1 }
        #expect(!rescued.isEmpty, "the jobs of the killed agent should have run again on the survivors")
        #expect(rescued.allSatisfy { $0["clientId"]?.stringValue != "agent-\(doomed)" })
    }

    @Test func statefulSessionStaysOnOneAgentWhicheverServerItsJobsReach() throws {
        let servers = try ServerProcess.cluster(2, database: try TestStore.sharedDatabaseURL(), arguments: Self.lease)
        defer { for server in servers { server.kill(SIGTERM) } }
        let admin = Client(servers[0])
        try admin.createProvider("calc")
        try admin.createModel("calc", "double", input: Self.pausedInput)
        let log = servers[0].dataDir + "/attempts.log"
        let model = Self.model(dir: servers[0].dataDir, log: log)
        let key = try admin.agentKey("agents", providers: ["calc"])
        let agents = try servers.indices.map { i in
            try AgentProcess(
                server: servers[i], key: key, provider: "calc", models: ["double": model], concurrency: 2,
                clientId: "agent-\(i)")
        }
        defer { for agent in agents { agent.kill(SIGTERM) } }

        // One caller's session, started on server 0 and carried to server 1 by its cookie.
        let callers = servers.map { Client($0) }
        #expect(try callers[0].job("StartStatefulSession").result == true)
        let cookie = try #require(callers[0].cookie)
        callers[1].cookie = cookie
        #expect(try callers[1].job("IsStatefulSession").result == true, "server 1 should know the session")

        var ids: [String] = []
        for i in 0..<10 {
            ids.append(try callers[i % 2].submit("calc", "double", rows: [["x": .int(Int64(i)), "pause": 0.1]]))
        }
        // Jobs of other callers, without the session, spread over both agents meanwhile.
        let others = try (0..<10).map { i in
            try Client(servers[i % 2]).submit("calc", "double", rows: [["x": .int(Int64(100 + i)), "pause": 0.1]])
        }
        for id in ids + others {
            #expect(try admin.waitFor("calc", id, ["COMPLETED", "FAILED"]) == "COMPLETED")
        }
        let sessionAgents = try Set(ids.map { try admin.queryJob($0)?["clientId"]?.stringValue ?? "?" })
        #expect(sessionAgents.count == 1, "the session's jobs ran on \(sessionAgents)")
        #expect(try callers[1].job("EndStatefulSession").status == 200)
        #expect(try callers[0].job("IsStatefulSession").result == false, "ending it on server 1 ends it everywhere")
    }

    @Test(.enabled(if: ThrowawayPostgres.control != nil, "needs ASSAY_TEST_POSTGRES_CTL to run a PostgreSQL"))
    func serversServeAgainAfterPostgresRestartsAndKeepEveryAcceptedJob() throws {
        let postgres = try ThrowawayPostgres()
        defer { postgres.remove() }
        let servers = try ServerProcess.cluster(
            2, database: TestStore.freshSchemaURL(base: postgres.url), arguments: Self.lease)
        defer { for server in servers { server.kill(SIGTERM) } }
        let clients = servers.map { Client($0) }
        try clients[0].createProvider("calc")
        try clients[0].createModel("calc", "double", input: Self.pausedInput)
        let log = servers[0].dataDir + "/attempts.log"
        let model = Self.model(dir: servers[0].dataDir, log: log)
        let key = try clients[0].agentKey("agents", providers: ["calc"])
        let agents = try servers.indices.map { i in
            try AgentProcess(
                server: servers[i], key: key, provider: "calc", models: ["double": model], concurrency: 2,
                clientId: "agent-\(i)")
        }
        defer { for agent in agents { agent.kill(SIGTERM) } }

        let submitter = Submitter(servers)
        submitter.start()
        defer { submitter.stop() }
        #expect(eventually(seconds: 15) { submitter.acceptedCount >= 20 })

        try postgres.stop()
        let stoppedAt = Date()
        var outageHealth: [[Reply]] = [[], []]
        while Date().timeIntervalSince(stoppedAt) < 3 {
            for i in servers.indices { if let reply = try? clients[i].health() { outageHealth[i].append(reply) } }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try postgres.start()

        let back = eventually(seconds: 30) { clients.allSatisfy { (try? $0.health().status) == 200 } }
        #expect(back, "both servers should report healthy again once PostgreSQL is back")
        let acceptedBeforeRecovery = submitter.acceptedByServer()
        #expect(
            eventually(seconds: 20) {
                zip(submitter.acceptedByServer(), acceptedBeforeRecovery).allSatisfy { $0 > $1 + 10 }
            }, "both servers should accept jobs again without being restarted")
        submitter.stop()

        for (i, replies) in outageHealth.enumerated() {
            #expect(
                replies.contains { $0.status == 503 && $0.errorCode == "STORE_UNAVAILABLE" },
                "/healthz of server \(i) during the outage: \(replies.map(\.status))")
            #expect(replies.allSatisfy { $0.status == 200 || $0.status == 503 })
        }
        let outcomes = submitter.outcomes()
        let unavailable = outcomes.filter { $0.status == 503 }
        #expect(!unavailable.isEmpty, "SubmitJob during the outage should have been turned away")
        #expect(unavailable.allSatisfy { $0.code == "STORE_UNAVAILABLE" && $0.retryAfter != nil })
        let unexpected = outcomes.filter { $0.status != 200 && $0.status != 503 }
        #expect(unexpected.isEmpty, "SubmitJob answered neither 200 nor 503: \(unexpected.prefix(5))")

        let accepted = submitter.accepted()
        let jobs = try finishedJobs(clients[0], count: accepted.count, seconds: 45)
        #expect(jobs.compactMap { $0["jobId"]?.stringValue }.sorted() == accepted.keys.sorted())
        try expectCompletedOnce(jobs, log: log, client: clients[0])
        try expectResults(jobs, accepted, client: clients[0])
    }
}

// MARK: - Checks

/// Waits until the one server among `clients` whose /healthz says `"maintenance": true` is the
/// only one saying so; returns its index, or nil after `seconds`.
func maintenanceHolder(among clients: [Client], seconds: Double) throws -> Int? {
    var holder: Int?
    _ = eventually(seconds: seconds) {
        let holders = clients.indices.filter { (try? clients[$0].health().json["maintenance"]?.boolValue) == true }
        holder = holders.count == 1 ? holders[0] : nil
        return holder != nil
    }
    return holder
}

/// Polls `condition` every 100 ms until it holds or `seconds` pass; returns whether it held.
func eventually(seconds: Double, _ condition: () throws -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? condition()) == true { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return (try? condition()) == true
}

/// Waits until the store holds `count` jobs, all finished, and returns their QueryJobs rows (all
/// of them, so that a duplicate or a stray job shows in the caller's checks).
func finishedJobs(_ client: Client, count: Int, seconds: Double) throws -> [JSONValue] {
    var rows: [JSONValue] = []
    let finished = eventually(seconds: seconds) {
        rows = try client.job("QueryJobs", ["maxItems": 10000]).rows
        return rows.count >= count
            && rows.allSatisfy { ["COMPLETED", "FAILED"].contains($0["status"]?.stringValue ?? "") }
    }
    #expect(finished, "jobs still unfinished: \(rows.filter { $0["status"]?.stringValue != "COMPLETED" }.count)")
    #expect(rows.count == count, "the store holds \(rows.count) jobs, \(count) were accepted")
    return rows
}

/// Each job completed exactly once: COMPLETED, one error row for every attempt before the last
/// (so the completion was accepted for one attempt only), and no attempt started twice.
func expectCompletedOnce(_ jobs: [JSONValue], log: String, client: Client) throws {
    let ids = jobs.compactMap { $0["jobId"]?.stringValue }
    #expect(Set(ids).count == ids.count, "QueryJobs lists a job twice")
    let started = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    #expect(Set(started).count == started.count, "an attempt of a job was started twice")
    let startedAttempts = Set(started)
    for job in jobs {
        let id = job["jobId"]?.stringValue ?? "?"
        let attempt = job["attempt"]?.int64Value ?? 0
        #expect(job["status"]?.stringValue == "COMPLETED", "job \(id): \(job)")
        let errors = try client.job("GetJobErrors", ["providerName": "calc", "jobId": .string(id)]).rows
        #expect(Int64(errors.count) + 1 == attempt, "job \(id) is on attempt \(attempt) with \(errors.count) errors")
        #expect(startedAttempts.contains("\(id) \(attempt)"), "job \(id) completed an attempt that never started")
    }
}

/// The results of each job are y = 2x for the x it was submitted with.
func expectResults(_ jobs: [JSONValue], _ inputs: [String: Int64], client: Client) throws {
    for job in jobs {
        guard let id = job["jobId"]?.stringValue, let x = inputs[id] else { continue }
        let results = try client.job("GetJobResults", ["providerName": "calc", "jobId": .string(id)])
        #expect(results.rows.map { $0["y"]?.doubleValue } == [Double(2 * x)], "job \(id): \(results.json)")
    }
}

// MARK: - Fixtures

/// Submits jobs one after another, alternating between servers, from a thread of its own, until
/// stopped. Each job carries an idempotency key and is sent again with that key after a 503 or a
/// broken connection, as a client following the contract would, so that a job whose acceptance
/// was lost in an outage is neither lost nor made twice. Records every reply.
final class Submitter: Sendable {
    struct Outcome: Sendable, CustomStringConvertible {
        let server: Int
        let status: Int
        let code: String?
        let retryAfter: String?
        var description: String { "server \(server): \(status) \(code ?? "")" }
    }

    struct State {
        var running = true
        var outcomes: [Outcome] = []
        /// Accepted job id to its x, and which server accepted it.
        var accepted: [String: (x: Int64, server: Int)] = [:]
    }

    let ports: [UInt16]
    let keys: [String]
    let state = Mutex(State())
    let finished = DispatchSemaphore(value: 0)

    init(_ servers: [ServerProcess]) {
        ports = servers.map(\.port)
        keys = servers.map(\.adminKey)
    }

    func start() {
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            var clients = ports.indices.map { Client(port: ports[$0], key: keys[$0]) }
            var next: Int64 = 0
            var tries = 0
            while state.withLock({ $0.running }) {
                let server = Int(next + Int64(tries)) % ports.count
                let reply: Reply
                do {
                    reply = try clients[server].job(
                        "SubmitJob",
                        [
                            "providerName": "calc", "modelName": "double", "inputParams": ["rows": [["x": .int(next)]]],
                            "extraParams": ["idempotencyKey": .string("submission-\(next)")],
                        ])
                } catch {
                    clients[server] = Client(port: ports[server], key: keys[server])
                    state.withLock {
                        $0.outcomes.append(Outcome(server: server, status: 0, code: "\(error)", retryAfter: nil))
                    }
                    tries += 1
                    Thread.sleep(forTimeInterval: 0.1)
                    continue
                }
                let id = reply.status == 200 ? reply.result?.stringValue : nil
                state.withLock {
                    $0.outcomes.append(
                        Outcome(
                            server: server, status: reply.status, code: reply.errorCode,
                            retryAfter: reply.header("Retry-After")))
                    if let id { $0.accepted[id] = (x: next, server: server) }
                }
                if id != nil {
                    next += 1
                    tries = 0
                    Thread.sleep(forTimeInterval: 0.02)
                } else {
                    tries += 1
                    Thread.sleep(forTimeInterval: reply.status == 503 ? 0.2 : 0.05)
                }
            }
        }
    }

    /// Stops submitting and waits for the reply in flight; does nothing the second time.
    func stop() {
        let wasRunning = state.withLock { s -> Bool in
            defer { s.running = false }
            return s.running
        }
        if wasRunning { finished.wait() }
    }

    var acceptedCount: Int { state.withLock { $0.accepted.count } }

    func acceptedByServer() -> [Int] {
        state.withLock { s in ports.indices.map { i in s.accepted.values.filter { $0.server == i }.count } }
    }

    func accepted() -> [String: Int64] { state.withLock { $0.accepted.mapValues(\.x) } }

    func outcomes() -> [Outcome] { state.withLock { $0.outcomes } }
}

/// A PostgreSQL cluster of the test's own, run with `ASSAY_TEST_POSTGRES_CTL` (`scripts/postgres`),
/// for tests that stop the database and must not disturb the tests running beside them.
final class ThrowawayPostgres {
    static var control: String? {
        guard let command = ProcessInfo.processInfo.environment["ASSAY_TEST_POSTGRES_CTL"], !command.isEmpty else {
            return nil
        }
        return command
    }

    let dir: String
    let port: UInt16

    init() throws {
        dir = temporaryDirectory("postgres")
        port = try freeLoopbackPort()
        do {
            try start()
        } catch {
            remove()
            throw error
        }
    }

    /// The base URL of its `postgres` database.
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    func start() throws { try control("start", dir, String(port)) }

    func stop() throws { try control("stop", dir) }

    /// Stops the cluster if it runs and deletes its folder.
    func remove() {
        try? control("stop", dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func control(_ words: String...) throws {
        guard let command = Self.control else { throw TestFailure("ASSAY_TEST_POSTGRES_CTL is not set") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", ([command] + words.map { "'\($0)'" }).joined(separator: " ")]
        // A file rather than a pipe: the server that `start` leaves running must not hold our end.
        let output = NSTemporaryDirectory() + "assay-test-postgres-ctl-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let handle = FileHandle(forWritingAtPath: output)!
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw TestFailure("\(command) \(words.joined(separator: " ")) failed: \(text)")
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}

import AssayAgent
import AssayHTTP
import AssayInfotable
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `assay bench`: the figures that say whether Assay is fast enough, measured against real
/// `assay serve` processes started from this binary (build it with `-c release`):
///
/// 1. SubmitJob throughput over HTTP, keep-alive, 32 connections (each job durable before its reply);
/// 2. end-to-end jobs per second through the agent protocol, with a no-op handler in an in-process
///    agent: draining the submitted backlog, and steady state with submitters running alongside;
/// 3. ExecuteJob round-trip median and p99;
/// 4. the servers' peak and current resident memory once `--finished` jobs are stored.
///
/// The load generator, the agents and the servers share the machine, so the figures are lower bounds.
enum BenchCommand {
    static let usage = """
        usage: assay bench [--seconds S] [--connections N] [--finished N] [--executes N]
                           [--database postgres://...] [--servers N] [--data DIR]
               assay bench pmml [...]   (PMML scoring throughput; see --help there)
        """

    static let submitPath = "/Thingworx/Resources/TW.AnalysisServices.JobManagementServicesAPI/Services/SubmitJob"

    static func run(_ words: [String]) throws -> Int32 {
        if words.first == "pmml" { return try PMMLBench.run(Array(words.dropFirst())) }
        let args = try Arguments(
            words, valued: ["seconds", "connections", "finished", "executes", "database", "servers", "data"],
            flags: ["help"])
        if args.flag("help") {
            print(usage)
            return 0
        }
        let seconds = try args.double("seconds") ?? 5
        let connections = try args.int("connections") ?? 32
        let finishedTarget = try args.int("finished") ?? 100_000
        let executes = try args.int("executes") ?? 1000
        let serverCount = max(1, try args.int("servers") ?? 1)
        let base = args.value("data") ?? "/tmp/assay-bench-\(getpid())"
        var serverArguments = ["--log-level", "warning"]
        if let database = args.value("database") { serverArguments += ["--database", database] }
        guard serverCount == 1 || args.value("database") != nil else {
            throw CLIError("--servers above 1 needs --database postgres://... (servers share one database)")
        }

        var servers: [ServerChild] = []
        defer { servers.forEach { $0.stop() } }
        for i in 0..<serverCount {
            servers.append(try ServerChild(dataDir: "\(base)/server-\(i)", extraArguments: serverArguments))
        }
        guard let adminKey = ServiceClient.readKeyFile(base + "/server-0/admin.key") else {
            throw CLIError("the first server wrote no admin key (is the database already in use?)", exitCode: 1)
        }
        let setup = try ServiceClient(url: "http://127.0.0.1:\(servers[0].port)", key: adminKey)
        let provider = "bench-\(getpid())"
        _ = try setup.call(
            ClientCommands.providers, "CreateProvider", ["providerName": .string(provider), "maxAttempts": 3])
        _ = try setup.call(
            ClientCommands.models, "CreateModelWithManualDatashapes",
            [
                "providerName": .string(provider), "modelName": "noop",
                "inputDatashapeJson": [["name": "x", "baseType": "NUMBER"]],
                "outputDatashapeJson": [["name": "y", "baseType": "NUMBER"]],
            ])
        let agentKey =
            try setup.call(
                ClientCommands.keys, "CreateKey",
                ["name": .string("bench-agent-\(getpid())"), "role": "agent", "providers": [.string(provider)]]
            )["rows"]?.arrayValue?.first?["result"]?.stringValue ?? ""
        let submitBody = JSON.serialize(
            ["providerName": .string(provider), "modelName": "noop", "inputParams": ["rows": [["x": 1.5]]]])
        let headers: [(name: String, value: String)] = [
            (name: "Content-Type", value: "application/json"), (name: "appKey", value: adminKey),
        ]
        print(
            "assay bench: \(serverCount) server(s), store \(args.value("database") == nil ? "sqlite" : "postgresql"), "
                + "\(connections) connections")
        flushStandardOutput()

        // 1. SubmitJob throughput.
        let submitted = load(servers, connections: connections, seconds: seconds, body: submitBody, headers: headers)
        print(
            line(
                "submit_jobs_per_second", submitted.perSecond,
                "SubmitJob over HTTP, durable, \(submitted.requests) jobs"))

        // 2. End to end: in-process agents with a no-op handler drain the backlog.
        let agents = try servers.enumerated().map { i, server in
            try BenchAgent(port: server.port, key: agentKey, provider: provider, clientId: "bench-\(i)")
        }
        defer { agents.forEach { $0.stop() } }
        let drainStart = monotonic()
        waitUntil { agents.reduce(0) { $0 + $1.completed } >= submitted.requests }
        let drainSeconds = monotonic() - drainStart
        let drained = agents.reduce(0) { $0 + $1.completed }
        print(
            line(
                "end_to_end_jobs_per_second", Double(drained) / drainSeconds,
                "agent protocol, no-op in-process agent, \(drained) queued jobs"))

        // 2b. Steady state: submitters and agents at once.
        let before = agents.reduce(0) { $0 + $1.completed }
        let steadyStart = monotonic()
        let steadySubmitted = load(
            servers, connections: connections, seconds: seconds, body: submitBody, headers: headers)
        waitUntil { agents.reduce(0) { $0 + $1.completed } - before >= steadySubmitted.requests }
        let steady = Double(agents.reduce(0) { $0 + $1.completed } - before) / (monotonic() - steadyStart)
        print(line("steady_end_to_end_jobs_per_second", steady, "submit and run at once"))

        // 3. ExecuteJob round trips.
        let executeBody = JSON.serialize(
            ["providerName": .string(provider), "modelName": "noop", "inputParams": ["rows": [["x": 2]]]])
        let latencies = try executeLatencies(
            port: servers[0].port, headers: headers, body: executeBody, count: executes)
        print(line("execute_median_ms", percentile(latencies, 0.5) * 1000, "ExecuteJob round trip, one caller"))
        print(line("execute_p99_ms", percentile(latencies, 0.99) * 1000, "\(latencies.count) calls"))

        // 4. Memory with many finished jobs stored.
        var finished = agents.reduce(0) { $0 + $1.completed }
        while finished < finishedTarget {
            let more = load(servers, connections: connections, seconds: 2, body: submitBody, headers: headers)
            let goal = finished + more.requests
            waitUntil { agents.reduce(0) { $0 + $1.completed } >= goal }
            finished = agents.reduce(0) { $0 + $1.completed }
        }
        for (i, server) in servers.enumerated() {
            let memory = server.memory()
            print(line("server\(i)_peak_rss_mib", Double(memory.peak) / 1_048_576, "\(finished) finished jobs stored"))
            print(line("server\(i)_rss_mib", Double(memory.current) / 1_048_576, "after the run"))
        }
        if args.value("data") == nil { _ = system("rm -rf '\(base)'") }
        return 0
    }

    static func line(_ name: String, _ value: Double, _ note: String) -> String {
        let rounded = (value * 10).rounded() / 10
        return "\(name)=\(rounded)  # \(note)"
    }

    /// Runs the SubmitJob load against every server at once, splitting the connections among them.
    static func load(
        _ servers: [ServerChild], connections: Int, seconds: Double, body: [UInt8],
        headers: [(name: String, value: String)]
    ) -> (requests: Int, perSecond: Double) {
        let total = Mutex<(Int, Double)>((0, 0))
        let group = DispatchGroup()
        for (i, server) in servers.enumerated() {
            let share = connections / servers.count + (i < connections % servers.count ? 1 : 0)
            DispatchQueue.global().async(group: group) {
                let result = HTTPLoad.run(
                    host: "127.0.0.1", port: server.port, path: submitPath, body: body, headers: headers,
                    connections: max(1, share), seconds: seconds)
                total.withLock { $0 = ($0.0 + result.requests, $0.1 + result.perSecond) }
            }
        }
        group.wait()
        return total.withLock { (requests: $0.0, perSecond: $0.1) }
    }

    static func executeLatencies(port: UInt16, headers: [(name: String, value: String)], body: [UInt8], count: Int)
        throws -> [Double]
    {
        let client = HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 60)
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        for _ in 0..<count {
            let start = monotonic()
            let response = try client.send(
                method: "POST",
                path: "/Thingworx/Resources/TW.AnalysisServices.JobManagementServicesAPI/Services/ExecuteJob",
                headers: headers, body: body)
            guard response.status == 200 else {
                throw CLIError(
                    "ExecuteJob answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
            }
            latencies.append(monotonic() - start)
        }
        return latencies
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
    }

    static func waitUntil(timeoutSeconds: Double = 600, _ condition: () -> Bool) {
        let deadline = monotonic() + timeoutSeconds
        while !condition() && monotonic() < deadline { usleep(2000) }
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// An in-process agent whose model does nothing: it measures the protocol, not a model.
final class BenchAgent: @unchecked Sendable {
    let runner: AgentRunner
    let done = DispatchSemaphore(value: 0)

    struct NoOp: JobHandler {
        func run(_ job: AgentJob, cancellation: CancellationFlag) -> JobOutcome {
            .completed(results: ["rows": [["y": 1]]], files: [])
        }
    }

    init(port: UInt16, key: String, provider: String, clientId: String) throws {
        let connection: AgentConnection
        do {
            connection = try AgentConnection(
                url: "http://127.0.0.1:\(port)", key: key, providerName: provider, clientId: clientId)
        } catch {
            throw CLIError("cannot create the bench agent: \(error)")
        }
        var configuration = AgentRunner.Configuration(models: ["noop"], concurrency: 64)
        configuration.claimWaitSeconds = 1
        runner = AgentRunner(connection: connection, handler: NoOp(), configuration: configuration)
        let runner = self.runner
        let done = self.done
        DispatchQueue.global().async {
            try? runner.run()
            done.signal()
        }
    }

    var completed: Int { runner.statistics.completed }

    func stop() {
        runner.stop(graceful: false)
        _ = done.wait(timeout: .now() + 10)
    }
}

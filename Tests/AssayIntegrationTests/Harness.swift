import AssayHTTP
import AssayInfotable
import Foundation
import Synchronization

/// Test fixtures that run the real thing: `assay serve` and `assay agent` processes from this
/// build, talked to over HTTP on loopback.

enum Binary {
    /// The `assay` executable built beside the test bundle.
    static var assay: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("assay").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/assay"
    }
}

func temporaryDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "assay-test-\(name)-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The store test servers use. SQLite in each server's data folder by default; with
/// `ASSAY_TEST_STORE=postgres` the PostgreSQL database at `ASSAY_TEST_POSTGRES_URL`, a fresh schema
/// per server, so that tests stay isolated from each other while they run in parallel.
enum TestStore {
    /// The base URL of the test database (`postgres://user@host:port/db`), when there is one.
    static var postgresURL: String? {
        guard let url = ProcessInfo.processInfo.environment["ASSAY_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// Whether servers that are not given a `--database` run on PostgreSQL.
    static var serversUsePostgres: Bool { ProcessInfo.processInfo.environment["ASSAY_TEST_STORE"] == "postgres" }

    /// A URL for a schema of its own in the database at `base`: nothing else uses it until the URL
    /// is handed to a server, so servers given the same URL form one cluster.
    static func freshSchemaURL(base: String) -> String {
        let schema = "it_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return base + (base.contains("?") ? "&" : "?") + "schema=" + schema
    }

    /// A new schema of the test database, for servers that should share one store.
    static func sharedDatabaseURL() throws -> String {
        guard let base = postgresURL else { throw TestFailure("ASSAY_TEST_POSTGRES_URL is not set") }
        return freshSchemaURL(base: base)
    }

    /// The `--database` arguments for a server that was not given a store of its own.
    static func defaultArguments() throws -> [String] {
        guard serversUsePostgres else { return [] }
        guard let base = postgresURL else {
            throw TestFailure("ASSAY_TEST_STORE=postgres needs ASSAY_TEST_POSTGRES_URL, the URL of a test database")
        }
        return ["--database", freshSchemaURL(base: base)]
    }
}

/// A running `assay serve`.
final class ServerProcess: @unchecked Sendable {
    let dataDir: String
    let extraArguments: [String]
    private(set) var process: Process?
    private(set) var port: UInt16 = 0
    private(set) var adminKey = ""
    /// The admin key made by another server of the same store, which wrote it to its own folder.
    private let givenAdminKey: String?
    let log: String

    /// Starts a server. Without `--database` in `arguments` it gets the test store (`TestStore`).
    /// A server joining a store that another server already set up passes that server's
    /// `adminKey`: only the first server on an empty store writes `admin.key`.
    init(dataDir: String? = nil, arguments: [String] = [], adminKey: String? = nil) throws {
        self.dataDir = dataDir ?? temporaryDirectory("server")
        self.extraArguments =
            arguments.contains("--database") ? arguments : arguments + (try TestStore.defaultArguments())
        self.givenAdminKey = adminKey
        self.log = self.dataDir + "/server.log"
        try start()
    }

    /// Starts `count` servers on one shared store: the first makes the admin key, the others use it.
    static func cluster(_ count: Int, database: String, arguments: [String] = []) throws -> [ServerProcess] {
        let first = try ServerProcess(arguments: ["--database", database] + arguments)
        var servers = [first]
        for _ in 1..<max(1, count) {
            servers.append(
                try ServerProcess(arguments: ["--database", database] + arguments, adminKey: first.adminKey))
        }
        return servers
    }

    /// The `--database` the server was started with, if any.
    var database: String? {
        guard let index = extraArguments.firstIndex(of: "--database"), index + 1 < extraArguments.count else {
            return nil
        }
        return extraArguments[index + 1]
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func start(port requested: UInt16 = 0) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binary.assay)
        process.arguments =
            ["serve", "--data", dataDir, "--port", String(requested == 0 ? port : requested)]
            + extraArguments
        let stdout = Pipe()
        process.standardOutput = stdout
        FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = FileHandle(forWritingAtPath: log)!
        logHandle.seekToEndOfFile()
        process.standardError = logHandle
        try process.run()
        self.process = process
        ChildProcesses.started(process.processIdentifier)
        // The server prints "listening on http://host:port" once it accepts connections.
        var buffer = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            if let text = String(data: buffer, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: {
                    $0.hasPrefix("listening on ")
                }), let portText = line.split(separator: ":").last, let bound = UInt16(portText)
            {
                port = bound
                break
            }
        }
        guard port != 0 else {
            let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestFailure("assay serve did not start: \(logText)")
        }
        if let givenAdminKey {
            adminKey = givenAdminKey
        } else {
            guard let text = try? String(contentsOfFile: dataDir + "/admin.key", encoding: .utf8) else {
                throw TestFailure(
                    "assay serve wrote no \(dataDir)/admin.key; a server joining a store set up by another one needs "
                        + "that server's adminKey")
            }
            adminKey = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func kill(_ signal: Int32 = SIGKILL) {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
        ChildProcesses.ended(process.processIdentifier)
        self.process = nil
    }

    /// Restarts on the same port and data folder.
    func restart() throws {
        let previous = port
        try start(port: previous)
    }

    deinit {
        if let process, process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// The servers and agents the tests started and have not stopped. Servers shared by a suite live
/// in statics, whose deinit never runs, so whatever is still running when the test process exits
/// is killed then rather than left behind.
enum ChildProcesses {
    private static let running = Mutex<Set<Int32>>([])
    private static let exitHook: Void = { atexit { ChildProcesses.killAll() } }()

    static func started(_ pid: Int32) {
        _ = exitHook
        running.withLock { _ = $0.insert(pid) }
    }

    static func ended(_ pid: Int32) {
        running.withLock { _ = $0.remove(pid) }
    }

    private static func killAll() {
        for pid in running.withLock({ $0 }) { Foundation.kill(pid, SIGKILL) }
    }
}

/// A running `assay agent`.
final class AgentProcess: @unchecked Sendable {
    let process = Process()

    init(
        server: ServerProcess, key: String, provider: String, models: [String: String], concurrency: Int = 1,
        clientId: String? = nil, workDir: String? = nil
    )
        throws
    {
        process.executableURL = URL(fileURLWithPath: Binary.assay)
        var arguments = [
            "agent", "--provider", provider, "--url", server.url, "--key", key,
            "--concurrency", String(concurrency),
        ]
        for (name, command) in models.sorted(by: { $0.key < $1.key }) {
            arguments += ["--model", "\(name)=\(command)"]
        }
        if let clientId { arguments += ["--client-id", clientId] }
        if let workDir { arguments += ["--work-dir", workDir] }
        process.arguments = arguments
        let log = server.dataDir + "/agent-\(UUID().uuidString.prefix(6)).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        try process.run()
        ChildProcesses.started(process.processIdentifier)
    }

    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` and waits for the agent to exit; does nothing once it has exited.
    ///
    /// It waits on the agent's pid rather than with `Process.waitUntilExit`, which on Linux returns only
    /// once every process holding the descriptor Foundation watches for the child's exit has closed it:
    /// a model process that the agent left running would hold the wait for as long as it runs.
    func kill(_ signal: Int32 = SIGKILL) {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, signal)
        AgentProcess.waitForExit(process.processIdentifier)
        ChildProcesses.ended(process.processIdentifier)
    }

    /// Blocks until `pid` has exited; WNOWAIT leaves reaping it to Foundation.
    private static func waitForExit(_ pid: Int32) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A reply: its status and JSON body.
struct Reply {
    let status: Int
    let json: JSONValue
    let headers: [(name: String, value: String)]

    var errorCode: String? { json["error"]?["code"]?.stringValue }
    var errorMessage: String { json["error"]?["message"]?.stringValue ?? "" }
    var rows: [JSONValue] { json["rows"]?.arrayValue ?? [] }
    /// The single value of a one-field, one-row result table.
    var result: JSONValue? { rows.first?["result"] }
    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
}

/// Calls services of a server with one key, over one keep-alive connection.
final class Client: @unchecked Sendable {
    let http: HTTPClient
    let key: String?
    var cookie: String?

    init(_ server: ServerProcess, key: String? = nil) {
        http = HTTPClient(host: "127.0.0.1", port: server.port, timeoutSeconds: 120)
        self.key = key ?? server.adminKey
    }

    init(port: UInt16, key: String?) {
        http = HTTPClient(host: "127.0.0.1", port: port, timeoutSeconds: 120)
        self.key = key
    }

    func raw(
        _ method: String, _ path: String, body: [UInt8] = [], contentType: String? = "application/json",
        headers extra: [(name: String, value: String)] = []
    ) throws -> Reply {
        var headers: [(name: String, value: String)] = []
        if let contentType { headers.append((name: "Content-Type", value: contentType)) }
        if let key { headers.append((name: "appKey", value: key)) }
        if let cookie { headers.append((name: "Cookie", value: cookie)) }
        headers += extra
        let response = try http.send(method: method, path: path, headers: headers, body: body)
        if let setCookie = response.header("Set-Cookie"), let first = setCookie.split(separator: ";").first {
            cookie = String(first)
        }
        let json = (try? JSON.parse(response.body)) ?? .string(String(decoding: response.body, as: UTF8.self))
        return Reply(status: response.status, json: json, headers: response.headers)
    }

    func call(_ resource: String, _ service: String, _ parameters: JSONValue = [:]) throws -> Reply {
        try raw("POST", "/Thingworx/Resources/\(resource)/Services/\(service)", body: JSON.serialize(parameters))
    }

    func job(_ service: String, _ parameters: JSONValue = [:]) throws -> Reply {
        try call("TW.AnalysisServices.JobManagementServicesAPI", service, parameters)
    }

    func provider(_ service: String, _ parameters: JSONValue = [:]) throws -> Reply {
        try call("TW.AnalysisServices.ProviderManagementServicesAPI", service, parameters)
    }

    func model(_ service: String, _ parameters: JSONValue = [:]) throws -> Reply {
        try call("TW.AnalysisServices.ModelManagementServicesAPI", service, parameters)
    }

    func agent(_ service: String, _ parameters: JSONValue = [:]) throws -> Reply {
        try call("Assay.AgentServicesAPI", service, parameters)
    }

    // MARK: - Fixture helpers

    func createProvider(_ name: String, _ settings: JSONObject = JSONObject()) throws {
        var p = settings
        p["providerName"] = .string(name)
        let reply = try provider("CreateProvider", .object(p))
        guard reply.status == 200 else { throw TestFailure("CreateProvider failed: \(reply.json)") }
    }

    /// A model with input `x` NUMBER (and optional others) and result `y` NUMBER.
    func createModel(
        _ provider: String, _ name: String, input: JSONValue = [["name": "x", "baseType": "NUMBER"]],
        output: JSONValue = [["name": "y", "baseType": "NUMBER"]], cardinality: String = "Any"
    ) throws {
        let reply = try model(
            "CreateModelWithManualDatashapes",
            [
                "providerName": .string(provider), "modelName": .string(name), "inputDatashapeJson": input,
                "outputDatashapeJson": output, "inputsToResultsCardinality": .string(cardinality),
            ])
        guard reply.status == 200 else { throw TestFailure("CreateModel failed: \(reply.json)") }
    }

    func agentKey(_ name: String, providers: [String]) throws -> String {
        let reply = try call(
            "Assay.KeyManagementServicesAPI", "CreateKey",
            ["name": .string(name), "role": "agent", "providers": .array(providers.map { .string($0) })])
        guard let key = reply.result?.stringValue else { throw TestFailure("CreateKey failed: \(reply.json)") }
        return key
    }

    func userKey(_ name: String) throws -> String {
        let reply = try call("Assay.KeyManagementServicesAPI", "CreateKey", ["name": .string(name), "role": "user"])
        guard let key = reply.result?.stringValue else { throw TestFailure("CreateKey failed: \(reply.json)") }
        return key
    }

    func submit(_ provider: String, _ model: String, rows: [JSONValue], extra: JSONObject = JSONObject()) throws
        -> String
    {
        let reply = try job(
            "SubmitJob",
            [
                "providerName": .string(provider), "modelName": .string(model), "inputParams": ["rows": .array(rows)],
                "extraParams": .object(extra),
            ])
        guard let id = reply.result?.stringValue else { throw TestFailure("SubmitJob failed: \(reply.json)") }
        return id
    }

    func status(_ provider: String, _ jobId: String) throws -> String {
        try job("GetJobStatus", ["providerName": .string(provider), "jobId": .string(jobId)]).result?.stringValue ?? "?"
    }

    /// Polls until the job reaches `status` or `seconds` pass; returns the last status seen.
    @discardableResult
    func waitFor(_ provider: String, _ jobId: String, _ wanted: Set<String>, seconds: Double = 30) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            last = try status(provider, jobId)
            if wanted.contains(last) { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return last
    }

    func queryJob(_ jobId: String) throws -> JSONValue? {
        try job("QueryJobs", ["query": ["filters": ["type": "EQ", "fieldName": "jobId", "value": .string(jobId)]]])
            .rows.first
    }

    var healthy: Bool {
        (try? raw("GET", "/healthz", contentType: nil).status) == 200
    }

    /// `GET /healthz`.
    func health() throws -> Reply {
        try raw("GET", "/healthz", contentType: nil)
    }
}

/// Writes an executable shell script and returns the command that runs it.
func script(_ dir: String, _ name: String, _ body: String) -> String {
    let path = dir + "/" + name
    FileManager.default.createFile(atPath: path, contents: Data(("#!/bin/sh\n" + body).utf8))
    chmod(path, 0o755)
    return path
}

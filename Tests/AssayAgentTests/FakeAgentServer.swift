import AssayInfotable

@testable import AssayAgent

/// An in-process stand-in for the server's agent services, speaking JSON through `AgentTransport`,
/// so that runner tests exercise the real encoding without sockets. Jobs are queued by the test;
/// reports, uploads and heartbeats are recorded.
final class FakeAgentServer: @unchecked Sendable {
    let lock = AgentLock()
    lazy var changed = AgentCondition(lock)
    var waiting: [AgentJob] = []
    var completions: [Int64: JSONValue] = [:]
    var failures: [Int64: (code: String, retryable: Bool)] = [:]
    var uploads: [(jobId: String, token: Int64, name: String, contentType: String, size: Int)] = []
    var heartbeats: [[Int64]] = []
    var reportRequests = 0
    var connects = 0
    var disconnects = 0
    /// Tokens whose reports are refused with LEASE_LOST.
    var lostTokens: Set<Int64> = []
    /// Tokens the next heartbeat answers as abandoned.
    var abandonTokens: Set<Int64> = []
    /// While set, every request fails as if the server were down.
    var down = false
    var heartbeatSeconds = 5.0

    func transport() -> AgentTransport { Transport(self) }

    func connection() -> AgentConnection {
        AgentConnection(providerName: "prov", clientId: "c1", key: "k") { [self] in transport() }
    }

    func add(_ count: Int, model: String = "m", firstToken: Int64 = 1) {
        lock.withLock {
            for i in 0..<Int64(count) {
                waiting.append(
                    AgentJob(
                        jobId: "job-\(firstToken + i)", providerName: "prov", modelName: model,
                        token: firstToken + i, input: ["rows": []]))
            }
            changed.broadcast()
        }
    }

    /// Waits until `done` holds (checked under the lock) or `seconds` pass.
    func wait(seconds: Double = 10, until done: () -> Bool) -> Bool {
        let deadline = MonotonicClock.now() + seconds
        return lock.withLock {
            while !done() && MonotonicClock.now() < deadline {
                changed.wait(until: min(deadline, MonotonicClock.now() + 0.05))
            }
            return done()
        }
    }

    struct Down: Error {}

    private func handle(_ method: String, _ path: String, _ headers: [(name: String, value: String)], _ body: [UInt8])
        throws -> AgentTransportReply
    {
        if lock.withLock({ down }) { throw Down() }
        if method == "PUT" {
            let parts = path.split(separator: "/")
            let token = Int64(headers.first { $0.name == "X-Assay-Token" }!.value)!
            let type = headers.first { $0.name == "Content-Type" }!.value
            return lock.withLock {
                if lostTokens.contains(token) { return Self.error(409, "LEASE_LOST") }
                uploads.append((String(parts[parts.count - 2]), token, String(parts.last!), type, body.count))
                return AgentTransportReply(status: 200, body: Array("{}".utf8))
            }
        }
        let request = try JSON.parse(body)
        let service = String(path.split(separator: "/").last!)
        var reply = JSONObject()
        switch service {
        case "Connect":
            lock.withLock { connects += 1 }
            reply["leaseSeconds"] = 15
            reply["heartbeatSeconds"] = .double(lock.withLock { heartbeatSeconds })
        case "ClaimJobs":
            let max = Int(request["maxJobs"]!.int64Value!)
            let wait = Double(request["waitSeconds"]!.int64Value!)
            let deadline = MonotonicClock.now() + min(wait, 0.2)
            let jobs = lock.withLock { () -> [AgentJob] in
                while waiting.isEmpty && MonotonicClock.now() < deadline { changed.wait(until: deadline) }
                let n = min(max, waiting.count)
                defer { waiting.removeFirst(n) }
                return Array(waiting.prefix(n))
            }
            reply["jobs"] = .array(
                jobs.map { j in
                    [
                        "jobId": .string(j.jobId), "providerName": "prov", "modelName": .string(j.modelName),
                        "attempt": 1, "token": .int(j.token), "timeoutSeconds": 0, "sessionId": nil,
                        "extraParams": [:], "customData": nil, "input": j.input,
                    ]
                })
        case "Heartbeat":
            let tokens = request["attempts"]!.arrayValue!.map { $0["token"]!.int64Value! }
            reply["abandoned"] = .array(
                lock.withLock {
                    heartbeats.append(tokens)
                    let abandoned = tokens.filter { abandonTokens.contains($0) }
                    abandonTokens.subtract(abandoned)
                    return abandoned.map { ["jobId": .string("job-\($0)"), "token": .int($0)] }
                })
        case "ReportJobs":
            var outcomes: [JSONValue] = []
            lock.withLock {
                reportRequests += 1
                for c in request["completions"]!.arrayValue! {
                    let token = c["token"]!.int64Value!
                    if lostTokens.contains(token) {
                        outcomes.append(["jobId": c["jobId"]!, "accepted": false, "error": ["code": "LEASE_LOST"]])
                    } else {
                        completions[token] = c["results"]!
                        outcomes.append(["jobId": c["jobId"]!, "accepted": true, "status": "COMPLETED"])
                    }
                }
                for f in request["failures"]!.arrayValue! {
                    let token = f["token"]!.int64Value!
                    failures[token] = (f["errorCode"]!.stringValue!, f["retryable"]!.boolValue!)
                    outcomes.append(["jobId": f["jobId"]!, "accepted": true, "status": "FAILED"])
                }
                changed.broadcast()
            }
            reply["outcomes"] = .array(outcomes)
        case "Disconnect":
            lock.withLock { disconnects += 1 }
        default:
            return Self.error(404, "NOT_FOUND")
        }
        return AgentTransportReply(status: 200, body: JSON.serialize(.object(reply)))
    }

    static func error(_ status: Int, _ code: String) -> AgentTransportReply {
        AgentTransportReply(
            status: status, body: JSON.serialize(["error": ["code": .string(code), "message": "refused"]]))
    }

    final class Transport: AgentTransport {
        let server: FakeAgentServer
        init(_ server: FakeAgentServer) { self.server = server }

        func exchange(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8])
            throws -> AgentTransportReply
        {
            try server.handle(method, path, headers, body)
        }

        func close() {}
    }
}

import AssayInfotable
import Testing

@testable import AssayAgent

#if canImport(Glibc)
    import Glibc
#endif

/// CommandJobHandler against real `/bin/sh` commands, each test in its own base folder.
@Suite final class CommandJobHandlerTests {
    let base: String

    init() {
        var template = Array("/tmp/assay-agent-test-XXXXXX".utf8CString)
        base = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { FileTree.remove(base) }

    func handler(_ models: [String: String]) throws -> CommandJobHandler {
        try CommandJobHandler(
            models: models, baseDirectory: base, environment: ["PATH": "/usr/bin:/bin", "ASSAY_KEY": "secret"],
            log: AgentLog { _ in })
    }

    static let input: JSONValue = [
        "dataShape": ["fieldDefinitions": ["x": ["name": "x", "baseType": "NUMBER", "ordinal": 1]]],
        "rows": [["x": 1.5], ["x": 2]],
    ]

    func job(
        _ model: String = "m", id: String = "job-1", token: Int64 = 7, timeout: Double = 0, session: String? = nil
    ) -> AgentJob {
        AgentJob(
            jobId: id, providerName: "prov", modelName: model, attempt: 2, token: token, timeoutSeconds: timeout,
            sessionId: session, extraParams: JSONObject([("priority", .int(3))]), input: Self.input)
    }

    func run(_ command: String, _ job: AgentJob? = nil) throws -> JobOutcome {
        try handler(["m": command]).run(job ?? self.job(), cancellation: CancellationFlag())
    }

    func results(_ outcome: JobOutcome) -> JSONValue? {
        if case .completed(let results, _) = outcome { return results }
        return nil
    }

    func failure(_ outcome: JobOutcome) -> (code: String, message: String, details: String?, retryable: Bool)? {
        if case .failed(let code, let message, let details, let retryable) = outcome {
            return (code, message, details, retryable)
        }
        return nil
    }

    @Test func completesWithRowsObject() throws {
        let outcome = try run(#"echo '{"rows": [{"y": 1}, {"y": 2}]}'"#)
        #expect(results(outcome) == ["rows": [["y": 1], ["y": 2]]])
    }

    @Test func completesWithArrayOfRows() throws {
        #expect(results(try run(#"printf '[{"y": "a"}]'"#)) == [["y": "a"]])
    }

    @Test func completesWithFullInfotable() throws {
        let table = #"{"dataShape": {"fieldDefinitions": {"y": {"name": "y", "baseType": "STRING"}}}, "rows": []}"#
        let outcome = try run("echo '\(table)'")
        #expect(results(outcome)?["dataShape"]?["fieldDefinitions"]?["y"]?["baseType"] == "STRING")
    }

    @Test func standardInputCarriesTheInfotable() throws {
        // The command echoes its input back as the result.
        let outcome = try run("cat")
        #expect(results(outcome) == Self.input)
    }

    @Test func exit75IsRetryable() throws {
        let f = failure(try run("echo 'try later' >&2; exit 75"))
        #expect(f?.code == "MODEL_FAILED")
        #expect(f?.retryable == true)
        #expect(f?.details?.contains("try later") == true)
    }

    @Test func otherExitFailsForGoodWithStderrTail() throws {
        let f = failure(try run("i=0; while [ $i -lt 3000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; exit 3"))
        #expect(f?.code == "MODEL_FAILED")
        #expect(f?.retryable == false)
        #expect(f?.message.contains("status 3") == true)
        let details = try #require(f?.details)
        #expect(details.hasSuffix("line 2999\n"))
        #expect(!details.contains("line 1\n"))
        #expect(details.utf8.count <= 8 * 1024 + 4)
    }

    @Test func killedBySignalFails() throws {
        let f = failure(try run("kill -9 $$"))
        #expect(f?.code == "MODEL_FAILED")
        #expect(f?.message.contains("SIGKILL") == true)
    }

    @Test func garbageOutputIsResultInvalid() throws {
        let f = failure(try run("echo 'score: 0.7'"))
        #expect(f?.code == "RESULT_INVALID")
        #expect(f?.retryable == false)
        #expect(f?.message.contains("not valid JSON") == true)
        #expect(failure(try run("true"))?.message.contains("nothing") == true)
        #expect(failure(try run("echo '{\"result\": 1}'"))?.message.contains("without \"rows\"") == true)
        #expect(failure(try run("echo '[1, 2]'"))?.message.contains("row 0 is a number") == true)
        #expect(failure(try run("echo '\"x\"'"))?.code == "RESULT_INVALID")
    }

    @Test func unknownModelFails() throws {
        let f = failure(try handler(["m": "true"]).run(job("other"), cancellation: CancellationFlag()))
        #expect(f?.code == "UNKNOWN_MODEL")
        #expect(f?.retryable == false)
    }

    @Test func environmentIsSet() throws {
        let command = """
            printf '[{"id":"%s","p":"%s","m":"%s","a":"%s","x":%s,"o":"%s","k":"%s","path":"%s","pwd":"%s"}]' \
              "$ASSAY_JOB_ID" "$ASSAY_PROVIDER" "$ASSAY_MODEL" "$ASSAY_ATTEMPT" "$ASSAY_EXTRA_PARAMS" \
              "$ASSAY_OUTPUT_DIR" "${ASSAY_KEY-unset}" "$PATH" "$(pwd)"
            """
        let row = try #require(results(try run(command))?.arrayValue?.first)
        #expect(row["id"] == "job-1")
        #expect(row["p"] == "prov")
        #expect(row["m"] == "m")
        #expect(row["a"] == "2")
        #expect(row["x"] == ["priority": 3])
        #expect(row["k"] == "unset")
        #expect(row["path"] == "/usr/bin:/bin")
        let output = try #require(row["o"]?.stringValue)
        #expect(output.hasPrefix(base + "/jobs/"))
        #expect(row["pwd"]?.stringValue.map { output.hasPrefix($0) } == true)
        // The working folder is gone after the job.
        #expect(access(output, F_OK) != 0)
    }

    @Test func outputFilesBecomeResultFiles() throws {
        let command = """
            printf 'a,b\\n1,2\\n' > "$ASSAY_OUTPUT_DIR/table.csv"; printf '{}' > "$ASSAY_OUTPUT_DIR/meta.json"
            head -c 3000 /dev/zero > "$ASSAY_OUTPUT_DIR/blob"; mkdir "$ASSAY_OUTPUT_DIR/sub"; echo '[]'
            """
        guard case .completed(_, let files) = try run(command) else {
            Issue.record("expected a completion")
            return
        }
        #expect(files.map(\.name) == ["blob", "meta.json", "table.csv"])
        #expect(files.map(\.contentType) == ["application/octet-stream", "application/json", "text/csv"])
        #expect(files.map(\.size) == [3000, 2, 8])
        #expect(files[2].bytes == Array("a,b\n1,2\n".utf8))
    }

    @Test func sessionFolderIsKeptAcrossJobs() throws {
        let command =
            #"echo "$ASSAY_SESSION_ID" >> "$ASSAY_SESSION_DIR/log"; "#
            + #"n=$(wc -l < "$ASSAY_SESSION_DIR/log"); echo "[{\"n\": $n}]""#
        let h = try handler(["m": command])
        let first = h.run(job(id: "a", token: 1, session: "s/1"), cancellation: CancellationFlag())
        let second = h.run(job(id: "b", token: 2, session: "s/1"), cancellation: CancellationFlag())
        #expect(results(first) == [["n": 1]])
        #expect(results(second) == [["n": 2]])
        let noSession = try #require(
            results(try run(#"printf '[{"d":"%s"}]' "${ASSAY_SESSION_DIR-none}""#))?.arrayValue?.first)
        #expect(noSession["d"] == "none")
    }

    @Test func timeoutKillsTheProcessGroup() throws {
        let pidFile = base + "/child.pid"
        let command = "sleep 100 & echo $! > '\(pidFile)'; wait"
        let start = MonotonicClock.now()
        let f = failure(try run(command, job(timeout: 0.5)))
        #expect(MonotonicClock.now() - start < 5)
        #expect(f?.code == "TIMEOUT")
        #expect(f?.retryable == true)
        let text = String(decoding: try #require(FileTree.read(pidFile)), as: UTF8.self)
        let pid = try #require(pid_t(text.trimmingSpaces().filter { $0 != "\n" }))
        // The background child was in the group: it is gone (or a zombie about to be reaped by init).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(pid, 0) != 0 || Self.isZombie(pid)
            if !gone { AgentThread.sleep(seconds: 0.02) }
        }
        #expect(gone)
    }

    @Test func backgroundChildDoesNotHoldTheJob() throws {
        // The command exits while a child it left behind keeps standard output open.
        let start = MonotonicClock.now()
        let outcome = try run("sleep 100 & echo '[]'")
        #expect(results(outcome) == [])
        #expect(MonotonicClock.now() - start < 5)
    }

    @Test func cancellationStopsTheCommand() throws {
        let h = try handler(["m": "sleep 100"])
        let flag = CancellationFlag()
        AgentThread.start(name: "cancel") {
            AgentThread.sleep(seconds: 0.2)
            flag.cancel()
        }
        let start = MonotonicClock.now()
        let f = failure(h.run(job(), cancellation: flag))
        #expect(f?.code == "CANCELLED")
        #expect(MonotonicClock.now() - start < 5)
    }

    @Test func largeInputAndOutputDoNotDeadlock() throws {
        // 2 MB in, echoed out, while the command also writes to standard error.
        let rows = (0..<40_000).map { i -> JSONValue in ["x": .int(Int64(i)), "s": "some padding text here"] }
        var j = job()
        j.input = ["rows": .array(rows)]
        let outcome = try run("cat; head -c 200000 /dev/zero >&2", j)
        #expect(results(outcome)?["rows"]?.arrayValue?.count == 40_000)
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = FileTree.read("/proc/\(pid)/stat") else { return false }
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return false }
        return text[text.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}

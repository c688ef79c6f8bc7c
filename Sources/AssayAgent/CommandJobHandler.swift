import AssayInfotable

#if canImport(Glibc)
    import Glibc
#endif

/// Runs each job as a shell command (SPEC §7): `/bin/sh -c COMMAND` in a fresh working folder, the
/// input infotable on standard input, the result as JSON on standard output, files left in
/// `ASSAY_OUTPUT_DIR` as result files. Exit 0 completes the job, 75 fails it for a retry, anything
/// else fails it for good with the end of standard error; a time-out kills the command's process
/// group.
///
/// Folders live under `baseDirectory`: `jobs/<job>-<token>` for one attempt (removed afterwards) and
/// `sessions/<session>` for a stateful session (kept while the agent runs, since the agent is not
/// told when a session ends).
public final class CommandJobHandler: JobHandler {
    /// Model name → shell command.
    public let models: [String: String]
    public let baseDirectory: String
    public let stdoutLimit: Int
    public let stderrLimit: Int
    /// The parent's environment without its `ASSAY_` variables: the child's `ASSAY_` names are the
    /// agent's alone, and `ASSAY_KEY` (the agent's credential) must not reach model code.
    private let baseEnvironment: [String]
    private let log: AgentLog

    /// Creates `baseDirectory` when missing. `environment` replaces the agent's own environment as
    /// the base of the commands' environments.
    public init(
        models: [String: String], baseDirectory: String, environment: [String: String]? = nil,
        stdoutLimit: Int = 64 << 20, stderrLimit: Int = 8 << 10, log: AgentLog = .standardError
    ) throws(AssayError) {
        self.models = models
        self.baseDirectory = baseDirectory
        self.stdoutLimit = stdoutLimit
        self.stderrLimit = stderrLimit
        self.log = log
        var env: [String] = []
        if let environment {
            env = environment.map { "\($0.key)=\($0.value)" }
        } else {
            var p = environ
            while let entry = p.pointee {
                env.append(String(cString: entry))
                p += 1
            }
        }
        baseEnvironment = env.filter { !$0.hasPrefix("ASSAY_") }
        for folder in [baseDirectory, baseDirectory + "/jobs", baseDirectory + "/sessions"] {
            if let problem = FileTree.makeDirectory(folder) {
                throw AssayError.badRequest("Cannot use '\(baseDirectory)' as the agent's working folder: \(problem).")
            }
        }
        // Writing to a command that closed its input must fail with EPIPE, not kill the agent.
        signal(SIGPIPE, SIG_IGN)
    }

    public func run(_ job: AgentJob, cancellation: CancellationFlag) -> JobOutcome {
        guard let command = models[job.modelName] else {
            let known = models.keys.sorted().joined(separator: ", ")
            return .failed(
                errorCode: "UNKNOWN_MODEL",
                message: "This agent has no command for model '\(job.modelName)' (it runs: \(known)); start it with "
                    + "--model \(job.modelName)=COMMAND.",
                details: nil, retryable: false)
        }
        let workDir = "\(baseDirectory)/jobs/\(FileTree.safeName(job.jobId))-\(job.token)"
        let outputDir = workDir + "/output"
        defer { FileTree.remove(workDir) }
        for folder in [workDir, outputDir] {
            if let problem = FileTree.makeDirectory(folder) { return agentError("create the working folder", problem) }
        }
        var env = baseEnvironment
        env.append("ASSAY_JOB_ID=\(job.jobId)")
        env.append("ASSAY_PROVIDER=\(job.providerName)")
        env.append("ASSAY_MODEL=\(job.modelName)")
        env.append("ASSAY_ATTEMPT=\(job.attempt)")
        env.append("ASSAY_EXTRA_PARAMS=\(JSON.string(.object(job.extraParams)))")
        env.append("ASSAY_OUTPUT_DIR=\(outputDir)")
        if let session = job.sessionId {
            let sessionDir = "\(baseDirectory)/sessions/\(FileTree.safeName(session))"
            if let problem = FileTree.makeDirectory(sessionDir) {
                return agentError("create the session folder", problem)
            }
            env.append("ASSAY_SESSION_ID=\(session)")
            env.append("ASSAY_SESSION_DIR=\(sessionDir)")
        }

        let process = ChildProcess(
            arguments: ["/bin/sh", "-c", command], environment: env, directory: workDir,
            stdin: JSON.serialize(job.input), timeoutSeconds: job.timeoutSeconds, stdoutLimit: stdoutLimit,
            stderrLimit: stderrLimit)
        let result: ChildProcess.Result
        do {
            result = try process.run(cancellation: cancellation)
        } catch {
            return agentError("start the command", error.description)
        }
        let stderr = Self.tailText(result.stderrTail, truncated: result.stderrTruncated)
        switch result.termination {
        case .cancelled:
            return .failed(
                errorCode: "CANCELLED", message: "The attempt was stopped by the agent.", details: stderr,
                retryable: true)
        case .timedOut:
            return .failed(
                errorCode: "TIMEOUT",
                message: "The command did not finish within \(AgentRunner.format(job.timeoutSeconds)) seconds; it was "
                    + "killed with its process group.",
                details: stderr, retryable: true)
        case .signalled(let signal):
            return .failed(
                errorCode: "MODEL_FAILED",
                message: "The command was killed by signal \(signal)"
                    + (Self.signalName(signal).map { " (\($0))." } ?? "."),
                details: stderr, retryable: false)
        case .exited(75):
            return .failed(
                errorCode: "MODEL_FAILED",
                message: "The command exited with status 75 (temporary failure); the job may succeed on retry.",
                details: stderr, retryable: true)
        case .exited(let status) where status != 0:
            return .failed(
                errorCode: "MODEL_FAILED", message: "The command exited with status \(status).", details: stderr,
                retryable: false)
        case .exited:
            break
        }
        if result.stdoutOverflowed {
            return .failed(
                errorCode: "RESULT_INVALID",
                message: "The command wrote more than \(stdoutLimit >> 20) MiB to standard output; the result must be "
                    + "smaller (large outputs belong in files in ASSAY_OUTPUT_DIR).",
                details: nil, retryable: false)
        }
        switch Self.parseResults(result.stdout) {
        case .failure(let problem):
            return .failed(
                errorCode: "RESULT_INVALID", message: problem.message, details: problem.details, retryable: false)
        case .success(let results):
            return .completed(results: results, files: collectFiles(outputDir, job: job))
        }
    }

    private func agentError(_ what: String, _ problem: String) -> JobOutcome {
        .failed(
            errorCode: "AGENT_ERROR", message: "The agent could not \(what): \(problem).", details: nil,
            retryable: true)
    }

    // MARK: Results

    struct ResultProblem: Error {
        var message: String
        var details: String?
    }

    static let expected = "write the result as an infotable, {\"rows\": [...]} or a JSON array of row objects"

    /// Reads standard output as an infotable, `{"rows": [...]}` or an array of rows.
    static func parseResults(_ stdout: [UInt8]) -> Result<JSONValue, ResultProblem> {
        let isSpace: (UInt8) -> Bool = { $0 == 32 || $0 == 9 || $0 == 10 || $0 == 13 }
        guard stdout.contains(where: { !isSpace($0) }) else {
            return .failure(
                ResultProblem(
                    message: "The command exited with status 0 but wrote nothing to standard output; \(expected)."))
        }
        let value: JSONValue
        do {
            value = try JSON.parse(stdout)
        } catch {
            return .failure(
                ResultProblem(
                    message: "Standard output is not valid JSON (\(error.description)); \(expected).",
                    details: tailText(Array(stdout.prefix(2048)), truncated: false)))
        }
        let rows: [JSONValue]
        switch value {
        case .array(let array):
            rows = array
        case .object(let object):
            guard let r = object["rows"] else {
                return .failure(
                    ResultProblem(message: "Standard output is a JSON object without \"rows\"; \(expected)."))
            }
            guard let array = r.arrayValue else {
                return .failure(
                    ResultProblem(message: "\"rows\" in standard output is \(r.typeName), not an array; \(expected)."))
            }
            rows = array
        default:
            return .failure(
                ResultProblem(message: "Standard output is \(value.typeName), not a result table; \(expected)."))
        }
        if let index = rows.firstIndex(where: { $0.objectValue == nil }) {
            return .failure(
                ResultProblem(message: "Result row \(index) is \(rows[index].typeName), not an object; \(expected)."))
        }
        return .success(value)
    }

    /// Regular files at the top of the output folder; anything else is skipped with a warning.
    private func collectFiles(_ outputDir: String, job: AgentJob) -> [ResultFile] {
        var files: [ResultFile] = []
        for entry in FileTree.entries(outputDir) {
            guard entry.isRegularFile, ResultFile.isValidName(entry.name) else {
                log.warning(
                    "job output entry skipped: only regular files with plain names become result files",
                    ["job.id": job.jobId, "attempt": String(job.attempt), "entry": entry.name])
                continue
            }
            guard let bytes = FileTree.read(outputDir + "/" + entry.name) else {
                log.warning(
                    "job output file unreadable; skipped",
                    ["job.id": job.jobId, "attempt": String(job.attempt), "file": entry.name])
                continue
            }
            files.append(ResultFile(name: entry.name, contentType: Self.contentType(of: entry.name), bytes: bytes))
        }
        return files.sorted { $0.name < $1.name }
    }

    static func contentType(of name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "csv": return "text/csv"
        case "tsv": return "text/tab-separated-values"
        case "json": return "application/json"
        case "txt", "log", "text": return "text/plain"
        case "md": return "text/markdown"
        case "html", "htm": return "text/html"
        case "xml", "pmml": return "application/xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "svg": return "image/svg+xml"
        case "webp": return "image/webp"
        case "pdf": return "application/pdf"
        case "zip": return "application/zip"
        case "gz": return "application/gzip"
        case "parquet": return "application/vnd.apache.parquet"
        case "xlsx": return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        default: return "application/octet-stream"
        }
    }

    /// The end of standard error as text; when cut, it starts at a line boundary where one is near.
    static func tailText(_ bytes: [UInt8], truncated: Bool) -> String? {
        guard !bytes.isEmpty else { return nil }
        var slice = bytes[...]
        if truncated, let newline = slice.prefix(512).firstIndex(of: 10) {
            slice = slice[(newline + 1)...]
        }
        return (truncated ? "…" : "") + String(decoding: slice, as: UTF8.self)
    }

    static func signalName(_ signal: Int32) -> String? {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGILL: return "SIGILL"
        case SIGPIPE: return "SIGPIPE"
        case SIGHUP: return "SIGHUP"
        default: return nil
        }
    }
}

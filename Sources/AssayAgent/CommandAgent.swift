import AssayInfotable

#if canImport(Glibc)
    import Glibc
#endif

/// `assay agent`: serves one provider's jobs with shell commands (SPEC §7) until SIGTERM or SIGINT,
/// then stops gracefully (a second signal stops at once). The CLI hands over the arguments that
/// follow the word `agent`.
public enum CommandAgent {
    public static let usage = """
        usage: assay agent --provider P --model NAME=COMMAND [--model NAME=COMMAND ...] [--concurrency N]
                           [--url URL] [--key KEY] [--client-id ID] [--work-dir DIR] [--grace-seconds S]

        Runs the jobs of provider P: each job runs COMMAND of its model with /bin/sh -c in a fresh folder,
        the input infotable on standard input, the result as JSON on standard output.
          --url URL            the server, http://host:port (default $ASSAY_URL, else http://127.0.0.1:8080)
          --key KEY            an agent key for P (default $ASSAY_KEY)
          --concurrency N      jobs run at once (default: the number of processors)
          --client-id ID       this agent's name among P's agents (default: host name and process id)
          --work-dir DIR       where job folders go (default: a new folder under $TMPDIR or /tmp)
          --grace-seconds S    on SIGTERM/SIGINT, how long running jobs may finish (default 30)

        """

    struct Options: Equatable {
        var provider = ""
        /// In the order given.
        var models: [(name: String, command: String)] = []
        var concurrency = 1
        var url = "http://127.0.0.1:8080"
        var key: String?
        var clientId = ""
        var workDir: String?
        var graceSeconds = 30.0
        var help = false

        static func == (a: Options, b: Options) -> Bool {
            a.provider == b.provider && a.models.map(\.name) == b.models.map(\.name)
                && a.models.map(\.command) == b.models.map(\.command) && a.concurrency == b.concurrency
                && a.url == b.url && a.key == b.key && a.clientId == b.clientId && a.workDir == b.workDir
                && a.graceSeconds == b.graceSeconds && a.help == b.help
        }
    }

    struct UsageError: Error, Equatable {
        var message: String
    }

    /// Runs the agent; answers the process exit status: 0 after a stop, 1 when the server refused
    /// the agent or a folder could not be made, 2 for bad arguments.
    public static func run(arguments: [String]) -> Int32 {
        let options: Options
        do {
            options = try parse(arguments, environment: { getenv($0).map { String(cString: $0) } })
        } catch {
            fail("\(error.message)\nRun 'assay agent --help' for usage.")
            return 2
        }
        if options.help {
            writeAll(1, usage)
            return 0
        }
        let log = AgentLog.standardError
        let connection: AgentConnection
        do {
            connection = try AgentConnection(
                url: options.url, key: options.key, providerName: options.provider, clientId: options.clientId)
        } catch {
            fail(error.message)
            return 2
        }
        var workDir = options.workDir ?? ""
        var createdWorkDir = false
        if options.workDir == nil {
            let tmp = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            workDir = "\(tmp.isEmpty ? "/tmp" : tmp)/assay-agent-\(FileTree.safeName(options.clientId))"
            createdWorkDir = access(workDir, F_OK) != 0
        }
        let handler: CommandJobHandler
        do {
            handler = try CommandJobHandler(
                models: Dictionary(options.models.map { ($0.name, $0.command) }, uniquingKeysWith: { a, _ in a }),
                baseDirectory: workDir, log: log)
        } catch {
            fail(error.message)
            return 1
        }
        defer {
            if createdWorkDir {
                FileTree.remove(workDir)
            } else {
                FileTree.remove(workDir + "/jobs")
                FileTree.remove(workDir + "/sessions")
            }
        }
        var configuration = AgentRunner.Configuration(
            models: options.models.map(\.name), concurrency: options.concurrency)
        configuration.gracePeriodSeconds = options.graceSeconds
        let runner = AgentRunner(connection: connection, handler: handler, configuration: configuration, log: log)
        StopSignals.install(log: log) { graceful in runner.stop(graceful: graceful) }
        do {
            try runner.run()
        } catch {
            return 1
        }
        return 0
    }

    static func parse(_ arguments: [String], environment: (String) -> String?) throws(UsageError) -> Options {
        var options = Options()
        options.concurrency = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let url = environment("ASSAY_URL"), !url.isEmpty { options.url = url }
        if let key = environment("ASSAY_KEY"), !key.isEmpty { options.key = key }
        var i = 0
        func value(_ flag: String, _ inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            i += 1
            guard i < arguments.count else { throw UsageError(message: "\(flag) needs a value.") }
            return arguments[i]
        }
        while i < arguments.count {
            var flag = arguments[i]
            var inline: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inline = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            switch flag {
            case "--provider":
                options.provider = try value(flag, inline)
                guard !options.provider.isEmpty else { throw UsageError(message: "--provider must not be empty.") }
            case "--model":
                let spec = try value(flag, inline)
                guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex,
                    !spec[spec.index(after: eq)...].allSatisfy({ $0 == " " })
                else {
                    throw UsageError(message: "--model takes NAME=COMMAND (got '\(spec)').")
                }
                let name = String(spec[..<eq])
                guard !options.models.contains(where: { $0.name == name }) else {
                    throw UsageError(message: "Model '\(name)' is given twice; give each model one command.")
                }
                options.models.append((name, String(spec[spec.index(after: eq)...])))
            case "--concurrency":
                let text = try value(flag, inline)
                guard let n = Int(text), (1...1024).contains(n) else {
                    throw UsageError(message: "--concurrency takes a whole number from 1 to 1024 (got '\(text)').")
                }
                options.concurrency = n
            case "--url":
                options.url = try value(flag, inline)
                guard options.url.hasPrefix("http://") else {
                    throw UsageError(message: "--url takes http://host:port (got '\(options.url)').")
                }
            case "--key":
                options.key = try value(flag, inline)
            case "--client-id":
                options.clientId = try value(flag, inline)
                guard !options.clientId.isEmpty else { throw UsageError(message: "--client-id must not be empty.") }
            case "--work-dir":
                options.workDir = try value(flag, inline)
                guard options.workDir?.isEmpty == false else {
                    throw UsageError(message: "--work-dir must not be empty.")
                }
            case "--grace-seconds":
                let text = try value(flag, inline)
                guard let s = Double(text), s >= 0, s.isFinite else {
                    throw UsageError(message: "--grace-seconds takes a number of seconds, 0 or more (got '\(text)').")
                }
                options.graceSeconds = s
            case "--help", "-h":
                options.help = true
                return options
            default:
                throw UsageError(message: "Unknown argument '\(arguments[i])'.")
            }
            i += 1
        }
        guard !options.provider.isEmpty else { throw UsageError(message: "--provider is required.") }
        guard !options.models.isEmpty else {
            throw UsageError(message: "At least one --model NAME=COMMAND is required.")
        }
        guard options.key != nil else {
            throw UsageError(message: "No agent key: pass --key KEY or set ASSAY_KEY.")
        }
        if options.clientId.isEmpty { options.clientId = "\(AgentRunner.hostName())-\(getpid())" }
        return options
    }

    /// A plain line on standard error, without the log's time stamp: a usage error is for a person.
    private static func fail(_ message: String) {
        writeAll(2, "assay agent: \(message)\n")
    }

    private static func writeAll(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 && errno != EINTR { return }
            offset += max(0, n)
        }
    }
}

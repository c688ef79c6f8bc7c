import Testing

@testable import AssayAgent

#if canImport(Glibc)
    import Glibc
#endif

/// Argument parsing of `assay agent`.
@Suite struct CommandAgentTests {
    func parse(_ arguments: [String], env: [String: String] = ["ASSAY_KEY": "k"]) throws(CommandAgent.UsageError)
        -> CommandAgent.Options
    {
        try CommandAgent.parse(arguments, environment: { env[$0] })
    }

    func message(_ arguments: [String], env: [String: String] = ["ASSAY_KEY": "k"]) -> String? {
        do {
            _ = try parse(arguments, env: env)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func parsesEverything() throws {
        let o = try parse([
            "--provider", "churn", "--model", "score=python3 score.py --x=1", "--model=train=./train.sh",
            "--concurrency", "8", "--url", "http://h:9000", "--key", "sekret", "--client-id", "a1",
            "--work-dir", "/tmp/w", "--grace-seconds", "2.5",
        ])
        #expect(o.provider == "churn")
        #expect(o.models.map(\.name) == ["score", "train"])
        #expect(o.models.map(\.command) == ["python3 score.py --x=1", "./train.sh"])
        #expect(o.concurrency == 8)
        #expect(o.url == "http://h:9000")
        #expect(o.key == "sekret")
        #expect(o.clientId == "a1")
        #expect(o.workDir == "/tmp/w")
        #expect(o.graceSeconds == 2.5)
    }

    @Test func defaultsComeFromTheEnvironment() throws {
        let o = try parse(
            ["--provider", "p", "--model", "m=true"], env: ["ASSAY_URL": "http://s:1", "ASSAY_KEY": "e"])
        #expect(o.url == "http://s:1")
        #expect(o.key == "e")
        #expect(o.concurrency >= 1)
        #expect(o.clientId.hasSuffix("-\(getpid())"))
        let d = try parse(["--provider", "p", "--model", "m=true"])
        #expect(d.url == "http://127.0.0.1:8080")
    }

    @Test func refusesBadArguments() {
        #expect(message(["--model", "m=true"]) == "--provider is required.")
        #expect(message(["--provider", "p"])?.contains("--model NAME=COMMAND is required") == true)
        #expect(message(["--provider", "p", "--model", "m"])?.contains("NAME=COMMAND") == true)
        #expect(message(["--provider", "p", "--model", "=cmd"])?.contains("NAME=COMMAND") == true)
        #expect(message(["--provider", "p", "--model", "m=a", "--model", "m=b"])?.contains("twice") == true)
        #expect(message(["--provider", "p", "--model", "m=a", "--concurrency", "0"])?.contains("1 to 1024") == true)
        #expect(message(["--provider", "p", "--model", "m=a", "--concurrency", "x"])?.contains("1 to 1024") == true)
        #expect(message(["--provider", "p", "--model", "m=a", "--url", "https://h"])?.contains("http://") == true)
        #expect(message(["--provider", "p", "--model", "m=a", "--grace-seconds", "-1"]) != nil)
        #expect(message(["--provider", "p", "--model", "m=a", "--bogus"]) == "Unknown argument '--bogus'.")
        #expect(message(["--provider", "p", "--model", "m=a", "--key"]) == "--key needs a value.")
        #expect(message(["--provider", "p", "--model", "m=a"], env: [:])?.contains("ASSAY_KEY") == true)
    }

    @Test func badArgumentsExitWithStatus2() {
        #expect(CommandAgent.run(arguments: ["--provider"]) == 2)
        let badPort = ["--provider", "p", "--model", "m=a", "--key", "k", "--url", "http://h:x"]
        #expect(CommandAgent.run(arguments: badPort) == 2)
    }

    @Test func helpIsNotAnError() throws {
        #expect(try parse(["--help"]).help)
    }
}

import AssayAgent

#if canImport(Glibc)
    import Glibc
#endif

/// Entry point of the `assay` command: the first word picks the subcommand.
public enum AssayCommandLine {
    static let usage = """
        assay — an analysis-job server, its agent and its client

          assay serve [--data DIR] [--host H] [--port P] [--database URL]   start the server
          assay agent --provider P --model NAME=COMMAND [...]               run jobs as processes
          assay bench [--quick]                                             measure throughput
        \(ClientCommands.usage)
        """

    public static func main() {
        let words = Array(CommandLine.arguments.dropFirst())
        guard let command = words.first, command != "--help", command != "help", command != "-h" else {
            print(usage)
            exit(words.isEmpty ? 2 : 0)
        }
        let rest = Array(words.dropFirst())
        do {
            let code: Int32
            switch command {
            case "serve": code = try ServeCommand.run(rest)
            case "agent": code = CommandAgent.run(arguments: rest)
            case "bench": code = try BenchCommand.run(rest)
            default: code = try ClientCommands.run(command, rest)
            }
            exit(code)
        } catch let error as CLIError {
            printError("assay: \(error.description)")
            exit(error.exitCode)
        } catch {
            printError("assay: \(error)")
            exit(1)
        }
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

#if canImport(Glibc)
    import Glibc
#endif

/// An `assay serve` started by this process (for `assay bench`): the same binary, a data folder of
/// its own, any free port. Its log goes to `<data>/server.log`; the port is read from the line the
/// server prints once it listens.
final class ServerChild: Sendable {
    let pid: pid_t
    let port: UInt16
    let dataDir: String

    init(dataDir: String, extraArguments: [String]) throws {
        self.dataDir = dataDir
        try ServeCommand.makeDirectory(dataDir)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CLIError("cannot create a pipe", exitCode: 1) }
        let logFd = open(dataDir + "/server.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, logFd, 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let arguments = [ServerChild.executable(), "serve", "--data", dataDir, "--port", "0"] + extraArguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, argv[0]!, &actions, nil, &argv, environ)
        close(fds[1])
        close(logFd)
        guard spawned == 0 else {
            close(fds[0])
            throw CLIError("cannot start assay serve: \(String(cString: strerror(spawned)))", exitCode: 1)
        }
        pid = child
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        var found: UInt16?
        while found == nil {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
            let text = String(decoding: output, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
                let last = line.split(separator: ":").last
            {
                found = UInt16(last)
            }
        }
        close(fds[0])
        guard let found else {
            kill(child, SIGKILL)
            throw CLIError("assay serve did not start; see \(dataDir)/server.log", exitCode: 1)
        }
        port = found
    }

    static func executable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
    }

    /// Peak and current resident memory in bytes, from /proc.
    func memory() -> (peak: Int, current: Int) {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return (0, 0) }
        defer { fclose(file) }
        var peak = 0
        var current = 0
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, file) != nil {
            let text = String(cString: line)
            let kib = Int(text.filter(\.isNumber)) ?? 0
            if text.hasPrefix("VmHWM:") { peak = kib * 1024 }
            if text.hasPrefix("VmRSS:") { current = kib * 1024 }
        }
        return (peak, current)
    }

    func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one command as a child process in its own process group: feeds it standard input, captures
/// standard output and error, and enforces a time-out and cancellation by killing the whole group.
///
/// The three pipes are served by one poll(2) loop on the calling thread, so a child that fills one
/// pipe while we write the other cannot deadlock us. Every descriptor is created close-on-exec so
/// that children spawned concurrently by other workers do not inherit each other's pipes (which
/// would keep a pipe open and its reader waiting for an end of file that never comes), and the child
/// gets no descriptor of the agent besides its standard input, output and error.
struct ChildProcess {
    enum Termination: Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case cancelled
    }

    struct Result {
        var termination: Termination
        var stdout: [UInt8]
        /// Standard output went past the limit; what was kept is its beginning.
        var stdoutOverflowed: Bool
        /// The last bytes of standard error, at most the limit.
        var stderrTail: [UInt8]
        var stderrTruncated: Bool
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    var arguments: [String]
    /// `NAME=value` strings.
    var environment: [String]
    var directory: String
    var stdin: [UInt8]
    /// 0 for none.
    var timeoutSeconds: Double = 0
    var stdoutLimit: Int = 64 << 20
    var stderrLimit: Int = 8 << 10
    /// How long output is still read after the child exited, while a process it left behind (and we
    /// killed) might still hold the pipes.
    var drainSeconds: Double = 2

    func run(cancellation: CancellationFlag) throws(SpawnError) -> Result {
        let io = try Pipes()
        let pid = try spawn(io)
        io.closeChildEnds()
        return serve(pid: pid, io: io, cancellation: cancellation)
    }

    // MARK: Spawning

    private func spawn(_ io: Pipes) throws(SpawnError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, io.stdinRead, 0)
        posix_spawn_file_actions_adddup2(&actions, io.stdoutWrite, 1)
        posix_spawn_file_actions_adddup2(&actions, io.stderrWrite, 2)
        // Nothing else: a descriptor the agent holds without close-on-exec (such as the one its own
        // parent watches to notice that the agent exited) would otherwise stay open in whatever the
        // command leaves running, for as long as that runs.
        if let addclosefrom = Self.addclosefrom {
            _ = addclosefrom(&actions, 3)
        } else {
            for fd in Self.openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var argv = arguments
        if let addchdir = Self.addchdir {
            _ = addchdir(&actions, directory)
        } else if argv.count == 3, argv[0] == "/bin/sh", argv[1] == "-c" {
            // Older C libraries lack addchdir_np: let the shell change folder first.
            argv[2] = "cd -- '\(directory.replacingQuotes())' || exit 126\n" + argv[2]
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group, so that a time-out can kill everything the command started; default
        // signal dispositions and an empty mask, because the agent ignores or blocks the stop signals
        // and a child would inherit that.
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else {
            io.closeAll()
            throw SpawnError(description: "could not start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    private typealias AddChdir =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>)
        -> Int32
    private typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    fileprivate typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    // Glibc has them (addclosefrom_np since 2.34), but Swift's Glibc module does not declare the GNU
    // extensions.
    private static let addchdir: AddChdir? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np"
    ).map { unsafeBitCast($0, to: AddChdir.self) }
    private static let addclosefrom: AddClosefrom? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"
    ).map { unsafeBitCast($0, to: AddClosefrom.self) }
    fileprivate static let pipe2: Pipe2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2").map {
        unsafeBitCast($0, to: Pipe2.self)
    }
    /// Serializes pipe creation with spawning where pipe2 is missing, so that no child inherits a
    /// descriptor between pipe() and fcntl().
    fileprivate static let pipeLock = AgentLock()

    /// The descriptors open in this process, for C libraries without addclosefrom_np. One that is
    /// closed before the spawn is harmless: the C library ignores closing a descriptor that is not open.
    static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name) { descriptors.append(fd) }
        }
        return descriptors
    }

    // MARK: Serving the pipes

    private func serve(pid: pid_t, io: Pipes, cancellation: CancellationFlag) -> Result {
        var result = Result(
            termination: .exited(0), stdout: [], stdoutOverflowed: false, stderrTail: [], stderrTruncated: false)
        var stdinFD: Int32 = stdin.isEmpty ? -1 : io.stdinWrite
        var stdoutFD = io.stdoutRead
        var stderrFD = io.stderrRead
        if stdinFD < 0 { io.closeStdinWrite() }
        var written = 0
        let start = MonotonicClock.now()
        let deadline = timeoutSeconds > 0 ? start + timeoutSeconds : Double.infinity
        var exitedAt: Double?
        var killed: Termination?
        var idleSleep = 0.001
        var chunk = [UInt8](repeating: 0, count: 65_536)

        while true {
            let now = MonotonicClock.now()
            if cancellation.isCancelled {
                killed = .cancelled
                break
            }
            if now >= deadline {
                killed = .timedOut
                break
            }
            if exitedAt == nil && Self.hasExited(pid) {
                exitedAt = now
                // Whatever the command left running belongs to the job and ends with it.
                kill(-pid, SIGKILL)
            }
            if let exitedAt, (stdoutFD < 0 && stderrFD < 0) || now - exitedAt > drainSeconds { break }

            var fds: [pollfd] = []
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty {
                // Output is closed but the child runs on: check on it with a growing pause.
                AgentThread.sleep(seconds: min(idleSleep, max(0, deadline - now)))
                idleSleep = min(idleSleep * 2, 0.05)
                continue
            }
            // The pause bounds how late a cancellation or an exit without end of file is noticed.
            let waitMs = Int32(max(0, min(100, (deadline - now) * 1000)).rounded(.up))
            let ready = poll(&fds, nfds_t(fds.count), waitMs)
            if ready < 0 && errno != EINTR { break }
            guard ready > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                if entry.fd == stdinFD {
                    if !writeStdin(stdinFD, &written) {
                        io.closeStdinWrite()
                        stdinFD = -1
                    }
                } else if entry.fd == stdoutFD {
                    if !drain(
                        stdoutFD, into: &result.stdout, chunk: &chunk, tail: false, limit: stdoutLimit,
                        overflowed: &result.stdoutOverflowed)
                    {
                        io.closeStdoutRead()
                        stdoutFD = -1
                    }
                } else if entry.fd == stderrFD {
                    if !drain(
                        stderrFD, into: &result.stderrTail, chunk: &chunk, tail: true, limit: stderrLimit,
                        overflowed: &result.stderrTruncated)
                    {
                        io.closeStderrRead()
                        stderrFD = -1
                    }
                }
            }
        }
        if killed != nil || exitedAt == nil { kill(-pid, SIGKILL) }
        io.closeAll()
        let status = Self.reap(pid)
        if result.stderrTail.count > stderrLimit {
            result.stderrTail.removeFirst(result.stderrTail.count - stderrLimit)
        }
        if let killed {
            result.termination = killed
        } else if status & 0x7f == 0 {
            result.termination = .exited((status >> 8) & 0xff)
        } else {
            result.termination = .signalled(status & 0x7f)
        }
        return result
    }

    /// Writes the next piece of standard input; false once it is all written or the child closed it.
    private func writeStdin(_ fd: Int32, _ written: inout Int) -> Bool {
        while written < stdin.count {
            let n = stdin.withUnsafeBytes { write(fd, $0.baseAddress! + written, min($0.count - written, 65_536)) }
            if n > 0 {
                written += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true
            } else {
                return false  // EPIPE: the command does not read its input, which is its business.
            }
        }
        return false
    }

    /// Reads what is available; false at end of file. `tail` keeps the last `limit` bytes, otherwise
    /// the first `limit` bytes are kept.
    private func drain(
        _ fd: Int32, into buffer: inout [UInt8], chunk: inout [UInt8], tail: Bool, limit: Int, overflowed: inout Bool
    ) -> Bool {
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if tail {
                    buffer.append(contentsOf: chunk[0..<n])
                    if buffer.count > 2 * limit {
                        buffer.removeFirst(buffer.count - limit)
                        overflowed = true
                    } else if buffer.count > limit {
                        overflowed = true
                    }
                } else {
                    let room = max(0, limit - buffer.count)
                    buffer.append(contentsOf: chunk[0..<min(n, room)])
                    if n > room { overflowed = true }
                }
            } else if n == 0 {
                return false
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return true
            } else {
                return false
            }
        }
    }

    /// Whether the child has exited, without reaping it: while it is a zombie its pid (and so its
    /// process group id) cannot be reused, which makes `kill(-pid, ...)` safe.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
        return rc == 0 && info._sifields._sigchld.si_pid == pid
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 0x7f00 }
        }
        return status
    }
}

/// The three pipes of a child: the child's ends are closed in the parent right after the spawn.
private final class Pipes {
    var stdinRead: Int32 = -1
    var stdinWrite: Int32 = -1
    var stdoutRead: Int32 = -1
    var stdoutWrite: Int32 = -1
    var stderrRead: Int32 = -1
    var stderrWrite: Int32 = -1

    init() throws(ChildProcess.SpawnError) {
        do {
            (stdinRead, stdinWrite) = try Self.makePipe()
            (stdoutRead, stdoutWrite) = try Self.makePipe()
            (stderrRead, stderrWrite) = try Self.makePipe()
        } catch {
            closeAll()
            throw error
        }
        for fd in [stdinWrite, stdoutRead, stderrRead] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    deinit { closeAll() }

    private static func makePipe() throws(ChildProcess.SpawnError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let rc: Int32
        if let pipe2 = ChildProcess.pipe2 {
            rc = pipe2(&fds, O_CLOEXEC)
        } else {
            rc = ChildProcess.pipeLock.withLock {
                let r = pipe(&fds)
                if r == 0 {
                    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                }
                return r
            }
        }
        guard rc == 0 else {
            throw ChildProcess.SpawnError(description: "could not create a pipe: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    private static func close(_ fd: inout Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    func closeChildEnds() {
        Self.close(&stdinRead)
        Self.close(&stdoutWrite)
        Self.close(&stderrWrite)
    }

    func closeStdinWrite() { Self.close(&stdinWrite) }
    func closeStdoutRead() { Self.close(&stdoutRead) }
    func closeStderrRead() { Self.close(&stderrRead) }

    func closeAll() {
        closeChildEnds()
        closeStdinWrite()
        closeStdoutRead()
        closeStderrRead()
    }
}

extension String {
    /// For single-quoting in a shell word: `'` becomes `'\''`.
    func replacingQuotes() -> String {
        var out = ""
        for c in self { out += c == "'" ? "'\\''" : String(c) }
        return out
    }
}

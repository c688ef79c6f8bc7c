#if canImport(Glibc)
    import Glibc
#endif

/// Starts detached pthreads running Swift closures. The runner's threads block in system calls (long
/// polls, poll(2), waitpid) for seconds at a time, so they must be real threads, not tasks on the
/// cooperative pool; they are detached because a stop must not hang on a thread stuck in a long poll.
enum AgentThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// `name` only serves the error message when the system refuses another thread.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        // Workers need little stack; the default 8 MiB only reserves address space but adds up at high
        // concurrency.
        pthread_attr_setstacksize(&attr, 1 << 20)
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attr,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        pthread_attr_destroy(&attr)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            fatalError("could not start thread \(name): \(String(cString: strerror(rc)))")
        }
    }

    /// Sleeps the calling thread; for short pauses only (back-off waits use conditions instead).
    static func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&ts, &remaining) != 0 && errno == EINTR { ts = remaining }
    }
}

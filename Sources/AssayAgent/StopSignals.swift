#if canImport(Glibc)
    import Glibc
#endif

/// Turns SIGTERM and SIGINT into stop requests: the first stops gracefully, the next ones at once.
/// The signals are blocked and taken with sigwait(2) on a dedicated thread, so the stop runs as
/// ordinary code rather than in a signal handler. Commands still get default dispositions: the
/// command handler resets the mask and the dispositions when it spawns them.
enum StopSignals {
    static func install(log: AgentLog, stop: @escaping @Sendable (_ graceful: Bool) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        // Blocked before the runner starts its threads, which inherit the mask, so no other thread
        // takes the signal with its default action.
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waited = set
        AgentThread.start(name: "agent-signals") {
            var set = waited
            var count = 0
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                count += 1
                let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
                if count == 1 {
                    log.info("agent stopping gracefully; send the signal again to stop at once", ["signal": name])
                    stop(true)
                } else {
                    log.warning("agent stopping at once", ["signal": name])
                    stop(false)
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// A pthread mutex with condition variables bound to it. The runner's threads hand jobs and outcomes
/// to each other under one lock and sleep on conditions; `Synchronization.Mutex` has no conditions,
/// and the runner must not depend on Foundation's.
final class AgentLock: @unchecked Sendable {
    fileprivate let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A condition variable on an `AgentLock`, timed on the monotonic clock so that wall-clock jumps
/// neither stall nor hurry heartbeats.
final class AgentCondition: @unchecked Sendable {
    private let lock: AgentLock
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    init(_ lock: AgentLock) {
        self.lock = lock
        cond = .allocate(capacity: 1)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Waits with the lock held.
    func wait() { pthread_cond_wait(cond, lock.mutex) }

    /// Waits with the lock held until signalled or `deadline` (monotonic seconds) passes.
    func wait(until deadline: Double) {
        let clamped = min(deadline, MonotonicClock.now() + 86_400)
        var ts = timespec()
        ts.tv_sec = Int(clamped)
        ts.tv_nsec = Int((clamped - Double(ts.tv_sec)) * 1e9)
        pthread_cond_timedwait(cond, lock.mutex, &ts)
    }

    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }
}

/// Seconds on the monotonic clock, for deadlines and back-off.
enum MonotonicClock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

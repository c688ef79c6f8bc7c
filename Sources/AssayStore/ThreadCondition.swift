import AssayInfotable

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A POSIX mutex with its condition variable, and a way to start a detached thread: the store's
/// SQLite connections each live on a thread of their own, and this is all those threads need.
/// AssayStore uses pthreads directly rather than Foundation so the server does not link Foundation
/// for two primitives. Waits with a deadline use the wall clock, like the store's `Millis`.
final class ThreadCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for a signal; the caller holds the lock.
    func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits for a signal or until the wall clock reaches `deadline` (ms since the epoch).
    func wait(untilMillis deadline: Int64) {
        var ts = timespec()
        ts.tv_sec = time_t(deadline / 1000)
        ts.tv_nsec = Int((deadline % 1000) * 1_000_000)
        pthread_cond_timedwait(cond, mutex, &ts)
    }

    func signal() { pthread_cond_signal(cond) }
    func broadcast() { pthread_cond_broadcast(cond) }

    /// The wall clock in milliseconds since the epoch.
    static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Starts a detached thread running `body`.
    static func spawn(_ body: @escaping @Sendable () -> Void) throws {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                #if canImport(Darwin)
                    let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
                #else
                    let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                #endif
                box.body()
                return nil
            }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw AssayError.internalError("Could not start a store thread (pthread_create returned \(rc)).")
        }
        pthread_detach(thread)
    }
}

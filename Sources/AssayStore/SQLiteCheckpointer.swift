import AssayInfotable
import CSQLite

/// Copies the WAL back into the database file on a thread and connection of its own, so that the
/// writer's commits pay only for their own WAL fsync. SQLite's automatic checkpoint would run inside
/// a commit, and measured here it more than halves group-commit throughput (random writes and two
/// fsyncs on the critical path every thousand pages).
///
/// The writer signals after commits once the WAL has grown by `signalFrames`; this thread then runs
/// a PASSIVE checkpoint, which never blocks the writer or readers. Under unbroken write load a
/// passive checkpoint cannot reset the WAL, so the writer falls back to a blocking RESTART
/// checkpoint itself beyond `SQLiteWriter.walFrameLimit` frames, bounding the file.
final class SQLiteCheckpointer: @unchecked Sendable {
    private let connection: SQLiteConnection
    private let condition = ThreadCondition()
    private var requested = false
    private var closing = false
    private var stopped = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    init(connection: SQLiteConnection) throws {
        self.connection = connection
        try ThreadCondition.spawn { [self] in loop() }
    }

    /// Asks for a checkpoint soon; cheap, never blocks on the checkpoint.
    func request() {
        condition.lock()
        requested = true
        condition.signal()
        condition.unlock()
    }

    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume()
                return
            }
            closing = true
            stopWaiters.append(continuation)
            condition.signal()
            condition.unlock()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while !requested && !closing { condition.wait() }
            let finished = closing
            requested = false
            condition.unlock()
            if finished { break }
            // A failed passive checkpoint only leaves the WAL longer; the next request retries it.
            _ = try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        }
        connection.close()
        condition.lock()
        stopped = true
        let waiters = stopWaiters
        stopWaiters = []
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }
}

import Dispatch
import Synchronization

/// Parks callers that wait for something to change in the store (an ExecuteJob caller for its job,
/// a long-polling agent for its provider's jobs) without holding a thread.
///
/// A caller registers before it looks at the store and waits after, so a signal that arrives in
/// between is not lost: it marks the waiter as fired and the wait returns at once.
public final class Waiters: Sendable {
    private let registry = Mutex<[String: [ObjectIdentifier: Waiter]]>([:])

    public init() {}

    public func register(_ key: String) -> Waiter {
        let waiter = Waiter(key: key)
        registry.withLock { $0[key, default: [:]][ObjectIdentifier(waiter)] = waiter }
        return waiter
    }

    public func unregister(_ waiter: Waiter) {
        registry.withLock { map in
            map[waiter.key]?[ObjectIdentifier(waiter)] = nil
            if map[waiter.key]?.isEmpty == true { map[waiter.key] = nil }
        }
    }

    /// Wakes every waiter registered under `key`.
    public func signal(_ key: String) {
        let waiting = registry.withLock { map in map.removeValue(forKey: key) }
        for waiter in waiting?.values ?? [:].values { waiter.fire() }
    }

    public var count: Int {
        registry.withLock { $0.values.reduce(0) { $0 + $1.count } }
    }
}

public final class Waiter: Sendable {
    let key: String
    private let state = Mutex<(fired: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    init(key: String) {
        self.key = key
    }

    func fire() {
        let continuation = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.fired { return nil }
            s.fired = true
            let c = s.continuation
            s.continuation = nil
            return c
        }
        continuation?.resume()
    }

    /// Returns when the waiter fires or after `seconds`, whichever is first.
    public func wait(seconds: Double) async {
        guard seconds > 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let firedAlready = state.withLock { s -> Bool in
                if s.fired { return true }
                s.continuation = continuation
                return false
            }
            if firedAlready {
                continuation.resume()
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in fire() }
        }
    }
}

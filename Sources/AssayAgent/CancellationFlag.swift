import Synchronization

/// Set when an attempt must stop: the server reported it abandoned (lease lost, job retried) or the
/// agent is stopping hard. Handlers poll it; once it is set, their outcome is not reported.
public final class CancellationFlag: Sendable {
    private let state = Atomic<Bool>(false)

    public init() {}

    public var isCancelled: Bool { state.load(ordering: .acquiring) }

    public func cancel() { state.store(true, ordering: .releasing) }
}

import AssayInfotable

/// The agent's operator log: one line per event that matters (connected, job failed, server
/// unreachable, stopping), `time level message key=value ...`, the same shape as the server's log.
/// Successful jobs log nothing at info level. Lines go to standard error unless a sink is given
/// (tests capture them).
public struct AgentLog: Sendable {
    public typealias Level = Log.Level

    public var level: Level
    private let sink: @Sendable (String) -> Void

    /// `sink` receives whole lines without the trailing newline.
    public init(level: Level = .info, sink: @escaping @Sendable (String) -> Void) {
        self.level = level
        self.sink = sink
    }

    public static let standardError = AgentLog { line in Log.writeStandardError(line) }

    public func debug(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        emit(.debug, message, metadata)
    }

    public func info(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        emit(.info, message, metadata)
    }

    public func warning(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        emit(.warning, message, metadata)
    }

    public func error(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        emit(.error, message, metadata)
    }

    private func emit(_ level: Level, _ message: () -> String, _ metadata: KeyValuePairs<String, String>) {
        guard level >= self.level else { return }
        sink(Log.line(level, message(), metadata))
    }
}

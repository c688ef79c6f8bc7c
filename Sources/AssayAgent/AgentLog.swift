#if canImport(Glibc)
    import Glibc
#endif

/// The agent's operator log: one line per event that matters (connected, job failed, server
/// unreachable, stopping), `time level message key=value ...`, the same shape as the server's log.
/// Successful jobs log nothing at info level. Lines go to standard error unless a sink is given
/// (tests capture them).
public struct AgentLog: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warning, error

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warning"
            case .error: return "error"
            }
        }
    }

    public var level: Level
    private let sink: @Sendable (String) -> Void

    /// `sink` receives whole lines without the trailing newline.
    public init(level: Level = .info, sink: @escaping @Sendable (String) -> Void) {
        self.level = level
        self.sink = sink
    }

    public static let standardError = AgentLog { line in
        var bytes = Array(line.utf8)
        bytes.append(10)
        // One write(2) per line keeps lines from concurrent threads whole.
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

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
        var line = "\(AgentLog.timestamp()) \(level.name) \(message())"
        for (key, value) in metadata {
            line += " \(key)=\(AgentLog.quoted(value))"
        }
        sink(line)
    }

    static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.utf8.contains { $0 <= 32 || $0 == UInt8(ascii: "\"") }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// UTC, millisecond precision, without Foundation.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

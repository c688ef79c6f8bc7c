import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Operator logs: one line per event that matters, `time level message key=value ...`, on standard
/// error. Success paths log at info or below; secrets never go into metadata. The agent's log
/// (`AgentLog`) writes the same lines through `Log.line`.
public enum Log {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warning, error

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        public var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .warning: return "warning"
            case .error: return "error"
            }
        }
    }

    private static let threshold = Atomic<Int>(Level.info.rawValue)

    /// Lines below this level are dropped.
    public static var level: Level {
        get { Level(rawValue: threshold.load(ordering: .relaxed)) ?? .info }
        set { threshold.store(newValue.rawValue, ordering: .relaxed) }
    }

    public static func debug(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        write(.debug, message, metadata)
    }

    public static func info(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        write(.info, message, metadata)
    }

    public static func warning(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        write(.warning, message, metadata)
    }

    public static func error(_ message: @autoclosure () -> String, _ metadata: KeyValuePairs<String, String> = [:]) {
        write(.error, message, metadata)
    }

    private static func write(_ level: Level, _ message: () -> String, _ metadata: KeyValuePairs<String, String>) {
        guard level.rawValue >= threshold.load(ordering: .relaxed) else { return }
        writeStandardError(line(level, message(), metadata))
    }

    /// One log line, without its newline: UTC time, level, message, then `key=value` pairs with
    /// values quoted where they hold spaces, quotes or control characters.
    public static func line(_ level: Level, _ message: String, _ metadata: KeyValuePairs<String, String>) -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var line = ISO8601.format(millis: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000))
        line += " \(level.name) \(message)"
        for (key, value) in metadata {
            line += " \(key)=\(quoted(value))"
        }
        return line
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

    /// Writes a line and its newline with one write(2), so lines from concurrent threads stay whole.
    public static func writeStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(10)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

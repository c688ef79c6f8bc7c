import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Operator logs: one line per event that matters, `level message key=value ...`, on standard error.
/// Success paths log at info or below; secrets never go into metadata.
public enum Log {
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

    private static func write(
        _ level: Level, _ message: () -> String, _ metadata: KeyValuePairs<String, String>
    ) {
        guard level.rawValue >= threshold.load(ordering: .relaxed) else { return }
        var line = "\(timestamp()) \(level.name) \(message())"
        for (key, value) in metadata {
            let quoted = value.contains(" ") || value.isEmpty ? "\"\(value)\"" : value
            line += " \(key)=\(quoted)"
        }
        line += "\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ISO8601Stamp.format(seconds: Int64(ts.tv_sec), millis: Int(ts.tv_nsec / 1_000_000))
    }
}

/// A minimal UTC timestamp formatter for log lines, free of Foundation.
enum ISO8601Stamp {
    static func format(seconds: Int64, millis: Int) -> String {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondsOfDay = seconds - days * 86400
        // Civil-from-days (Howard Hinnant's algorithm, public domain arithmetic).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondsOfDay / 3600, 2)):"
            + "\(pad(secondsOfDay % 3600 / 60, 2)):\(pad(secondsOfDay % 60, 2)).\(pad(Int64(millis), 3))Z"
    }
}

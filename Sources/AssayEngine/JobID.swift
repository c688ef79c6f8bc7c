import AssayStore
import Synchronization

/// Job ids: 24 lower-case hex digits, time-ordered (milliseconds, then a per-process counter) with
/// random bits, so that ids from several servers sharing one database never collide and sort
/// roughly by creation.
public enum JobID {
    private static let counter = Atomic<UInt32>(UInt32.random(in: 0..<UInt32.max))
    private static let processBits = UInt32.random(in: 0..<UInt32.max)

    public static func make(now: Millis = WallClock.nowMillis()) -> String {
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return hex(UInt64(now) & 0xFFFF_FFFF_FFFF, digits: 12) + hex(UInt64(processBits), digits: 4)
            + hex(UInt64(sequence), digits: 8)
    }

    /// A random token of `bytes` bytes as hex. The system generator draws from the kernel's
    /// cryptographic source, so these can serve as secrets (keys, session ids).
    public static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in hex(UInt64(UInt8.random(in: 0...255, using: &generator)), digits: 2) }.joined()
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let s = String(value, radix: 16)
        let trimmed = s.count > digits ? String(s.suffix(digits)) : s
        return String(repeating: "0", count: digits - trimmed.count) + trimmed
    }
}

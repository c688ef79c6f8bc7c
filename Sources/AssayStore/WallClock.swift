#if canImport(Glibc)
    import Glibc
#endif

/// The wall clock in the store's unit, milliseconds since the epoch (UTC).
public enum WallClock {
    public static func nowMillis() -> Millis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Millis(ts.tv_sec) * 1000 + Millis(ts.tv_nsec) / 1_000_000
    }
}

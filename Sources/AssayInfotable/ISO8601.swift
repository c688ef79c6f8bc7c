/// ISO 8601 / RFC 3339 timestamps to and from milliseconds since the Unix epoch, UTC.
///
/// DATETIME values travel as epoch milliseconds; people and spreadsheets write dates. This accepts the
/// common forms: a date (`2026-12-03`, midnight UTC), a date and time with minutes or seconds, an optional
/// fraction (digits beyond milliseconds are truncated), and a zone `Z` or `±hh:mm` / `±hhmm` / `±hh`
/// (none means UTC). The separator may be `T`, `t` or a space. Years are four digits, or a sign and six
/// digits (the expanded form `format` writes outside 0000...9999). Week dates, ordinal dates and leap
/// seconds are not accepted.
public enum ISO8601 {
    static let millisPerDay: Int64 = 86_400_000

    public static func parseMillis(_ s: String) -> Int64? {
        var scanner = DateScanner(Array(s.utf8))
        return scanner.parse()
    }

    /// `2026-12-03T10:15:30.123Z`; always with milliseconds, always UTC.
    public static func format(millis: Int64) -> String {
        let (days, msOfDay) = floorDivide(millis, millisPerDay)
        let (year, month, day) = civil(fromDays: days)
        var out = ""
        if year >= 0 && year <= 9999 {
            out += pad(year, 4)
        } else {
            out += (year < 0 ? "-" : "+") + pad(year.magnitude, 6)
        }
        out += "-" + pad(month, 2) + "-" + pad(day, 2)
        out += "T" + pad(msOfDay / 3_600_000, 2) + ":" + pad(msOfDay / 60_000 % 60, 2)
        out += ":" + pad(msOfDay / 1000 % 60, 2) + "." + pad(msOfDay % 1000, 3) + "Z"
        return out
    }

    static func pad<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `days(year:month:day:)`.
    static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2:
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            return leap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// A cursor over the bytes of one timestamp; every step returns nil on anything unexpected.
private struct DateScanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func digits(_ count: Int) -> Int64? {
        guard index + count <= bytes.count else { return nil }
        var value: Int64 = 0
        for _ in 0..<count {
            let b = bytes[index]
            guard b >= 0x30 && b <= 0x39 else { return nil }
            value = value * 10 + Int64(b - 0x30)
            index += 1
        }
        return value
    }

    mutating func take(_ ascii: Character) -> Bool {
        guard index < bytes.count, bytes[index] == ascii.asciiValue! else { return false }
        index += 1
        return true
    }

    mutating func parse() -> Int64? {
        var year: Int64
        if take("+") {
            guard let y = digits(6) else { return nil }
            year = y
        } else if take("-") {
            guard let y = digits(6) else { return nil }
            year = -y
        } else {
            guard let y = digits(4) else { return nil }
            year = y
        }
        guard take("-"), let month = digits(2), take("-"), let day = digits(2) else { return nil }
        guard month >= 1 && month <= 12, day >= 1, day <= ISO8601.daysInMonth(year: year, month: month) else {
            return nil
        }
        var millis = ISO8601.days(year: year, month: month, day: day) * ISO8601.millisPerDay
        if atEnd { return millis }
        guard take("T") || take("t") || take(" ") else { return nil }
        guard let hour = digits(2), take(":"), let minute = digits(2), hour <= 23, minute <= 59 else { return nil }
        millis += hour * 3_600_000 + minute * 60_000
        if take(":") {
            guard let second = digits(2), second <= 59 else { return nil }
            millis += second * 1000
            if take(".") || take(",") {
                var fraction: Int64 = 0
                var count = 0
                while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                    // Only the first three digits count; the rest is below a millisecond.
                    if count < 3 { fraction = fraction * 10 + Int64(bytes[index] - 0x30) }
                    count += 1
                    index += 1
                }
                guard count > 0 else { return nil }
                for _ in count..<max(count, 3) { fraction *= 10 }
                millis += fraction
            }
        }
        if atEnd || take("Z") || take("z") { return atEnd ? millis : nil }
        let sign: Int64
        if take("+") { sign = 1 } else if take("-") { sign = -1 } else { return nil }
        guard let offsetHours = digits(2), offsetHours <= 23 else { return nil }
        var offsetMinutes: Int64 = 0
        if !atEnd {
            _ = take(":")
            guard let m = digits(2), m <= 59 else { return nil }
            offsetMinutes = m
        }
        guard atEnd else { return nil }
        // Local time minus its offset from UTC is UTC.
        return millis - sign * (offsetHours * 3_600_000 + offsetMinutes * 60_000)
    }
}

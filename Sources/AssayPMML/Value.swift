// The runtime's internal cell: a 16-byte tagged value with no references, so that slots can live in
// flat buffers and be copied without reference counting. Strings are interned at load time and carried
// as integer codes; strings first seen while scoring get negative, per-row codes (see `Scratch`).

struct V {
    enum Tag: UInt8 { case missing, number, string, bool }

    var tag: Tag
    /// Set on raw input that failed DataDictionary validation; cleared by the MiningField treatment.
    var invalid: Bool = false
    var code: Int32 = 0
    var num: Double = 0

    static let missing = V(tag: .missing)

    @inline(__always) static func number(_ value: Double) -> V { V(tag: .number, num: value) }
    @inline(__always) static func string(_ code: Int32) -> V { V(tag: .string, code: code) }
    @inline(__always) static func bool(_ value: Bool) -> V { V(tag: .bool, num: value ? 1 : 0) }

    @inline(__always) var isMissing: Bool { tag == .missing }
    @inline(__always) var truth: Bool { num != 0 }

    /// Identity of two values of the same kind; used for category matching after interning.
    @inline(__always) func same(_ other: V) -> Bool {
        if tag != other.tag { return false }
        switch tag {
        case .missing: return true
        case .string: return code == other.code
        case .number, .bool: return num == other.num
        }
    }
}

/// Interns the strings of one document. Codes are dense and start at 0.
final class StringTable {
    private(set) var strings: [String] = []
    private(set) var codes: [String: Int32] = [:]

    func intern(_ text: String) -> Int32 {
        if let code = codes[text] { return code }
        let code = Int32(strings.count)
        strings.append(text)
        codes[text] = code
        return code
    }

    func lookup(_ text: String) -> Int32? { codes[text] }
}

/// Formats a number the way Java's `Double.toString` would for the common cases, so that labels built
/// from numbers ("probability(1.0)") match JPMML's.
func javaString(_ value: Double, integer: Bool) -> String {
    if integer || (value == value.rounded() && abs(value) < 1e15 && integer) {
        return String(Int64(value))
    }
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
    let magnitude = abs(value)
    if magnitude == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
    if magnitude >= 1e-3 && magnitude < 1e7 {
        var text = "\(value)"
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }
    // Scientific form: Java writes 1.0E-5 where Swift writes 1e-05.
    let text = "\(value)"
    guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
    var mantissa = String(text[..<e])
    if !mantissa.contains(".") { mantissa += ".0" }
    var exponent = String(text[text.index(after: e)...])
    let negative = exponent.hasPrefix("-")
    exponent = String(exponent.drop(while: { $0 == "-" || $0 == "+" || $0 == "0" }))
    if exponent.isEmpty { exponent = "0" }
    return mantissa + "E" + (negative ? "-" : "") + exponent
}

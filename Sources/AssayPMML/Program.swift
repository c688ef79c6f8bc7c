// The compiled form of one PMML document: slot computers, interned strings, buffer sizes, the top model
// and the recipes that turn caller values into slots and model results into caller values. Built once
// by `Compiler`; immutable afterwards and shared by every evaluator.

/// How one caller-supplied column becomes a raw slot value, including DataDictionary validation.
struct InputSpec {
    let name: String
    let slot: Int32
    let dataType: PMMLDataType
    let validStrings: Set<Int32>?
    let validNumbers: Set<Double>?
    let invalidStrings: Set<Int32>
    let invalidNumbers: Set<Double>
    let missingStrings: Set<Int32>
    let missingNumbers: Set<Double>
    let intervals: [Interval]
}

/// A numeric interval with PMML's four closure kinds.
struct Interval {
    let low: Double
    let high: Double
    let lowClosed: Bool
    let highClosed: Bool

    func contains(_ value: Double) -> Bool {
        (lowClosed ? value >= low : value > low) && (highClosed ? value <= high : value < high)
    }

    init(low: Double, high: Double, lowClosed: Bool, highClosed: Bool) {
        self.low = low
        self.high = high
        self.lowClosed = lowClosed
        self.highClosed = highClosed
    }

    init(_ element: XMLElement) throws(PMMLError) {
        let closure = try element.required("closure")
        low = try element.double("leftMargin") ?? -.infinity
        high = try element.double("rightMargin") ?? .infinity
        switch closure {
        case "openClosed": (lowClosed, highClosed) = (false, true)
        case "openOpen": (lowClosed, highClosed) = (false, false)
        case "closedOpen": (lowClosed, highClosed) = (true, false)
        case "closedClosed": (lowClosed, highClosed) = (true, true)
        default: throw .unsupported("Interval", attribute: "closure", value: closure)
        }
    }
}

/// How one result column is read once the top model has run.
struct ResultSpec {
    let field: PMMLField
    let read: Expr
    /// True for integer-typed labels, so numbers print without a fraction.
    let integer: Bool
}

final class Program: @unchecked Sendable {
    // Filled in by the compiler, then never mutated: evaluators only read.
    var strings: [String] = []
    var codes: [String: Int32] = [:]
    var computers: [Expr?] = []
    var slotNames: [String] = []
    var doubleCount = 0
    var resultCount = 0
    var inputs: [InputSpec] = []
    var results: [ResultSpec] = []
    /// Target name and reader, for callers (tests) that want the raw predicted target too.
    var targets: [(name: String, read: Expr, integer: Bool)] = []
    var top: ModelNode!

    var slotCount: Int { computers.count }
}

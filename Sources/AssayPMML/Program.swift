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

/// The scalar part of an `InputSpec`, for the per-row loop: no strings, sets or arrays, so reading it
/// costs no reference counting. Inputs that need the full DataDictionary validation take the slow path.
struct InputPlan {
    enum Kind: UInt8 {
        /// Anything with declared valid, invalid or missing values or intervals, and non-numeric types.
        case general
        case plainDouble, plainFloat, plainInteger
    }

    let slot: Int32
    let kind: Kind
    /// The top model's MiningField slot when its treatment passes valid values through unchanged (no
    /// replacement, no outliers, missing values as is), else -1. A valid raw value is stored there too,
    /// so the treatment is not run for it; invalid values still go through it, lazily, as before.
    let treatedSlot: Int32

    init(_ spec: InputSpec, treatedSlot: Int32) {
        slot = spec.slot
        self.treatedSlot = treatedSlot
        let plain =
            spec.validStrings == nil && spec.validNumbers == nil && spec.invalidStrings.isEmpty
            && spec.invalidNumbers.isEmpty && spec.missingStrings.isEmpty && spec.missingNumbers.isEmpty
            && spec.intervals.isEmpty
        switch spec.dataType {
        case .double where plain: kind = .plainDouble
        case .float where plain: kind = .plainFloat
        case .integer where plain: kind = .plainInteger
        default: kind = .general
        }
    }
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
    /// The slot `read` fetches when that is all it does, else -1; lets scoring skip the closure.
    var slot: Int32 = -1
}

final class Program: @unchecked Sendable {
    // Filled in by the compiler, then never mutated: evaluators only read.
    var strings: [String] = []
    var codes: [String: Int32] = [:]
    var computers: [Computer?] = []
    var slotNames: [String] = []
    var doubleCount = 0
    var resultCount = 0
    var inputs: [InputSpec] = []
    var results: [ResultSpec] = []
    /// Target name and reader, for callers (tests) that want the raw predicted target too.
    var targets: [(name: String, read: Expr, integer: Bool)] = []
    var top: ModelNode!
    /// Top-level MiningField slots whose treatment passes valid values through, by raw input slot.
    var passThroughSlots: [Int32: Int32] = [:]
    /// Built from `inputs` once compilation is done.
    var inputPlans: [InputPlan] = []

    var slotCount: Int { computers.count }
}

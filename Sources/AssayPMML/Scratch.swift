// Per-evaluator working memory: one flat buffer of field slots (with a generation stamp so that derived
// fields are computed at most once per row, and only when something reads them), a buffer of doubles
// for probabilities and affinities, and one result record per model. All of it is sized at load time,
// so scoring a row allocates nothing unless a row brings strings the document never mentions.

typealias Expr = (Scratch) throws(PMMLError) -> V

/// A slot's computer in a concrete wrapper. A closure stored straight in an array or an optional is kept
/// in its most general form and every call goes through a reabstraction thunk; as a class field it is
/// called directly, and the scratch can call it through an unmanaged reference without retaining it.
final class Computer {
    let run: Expr

    init(run: @escaping Expr) {
        self.run = run
    }
}

/// What one model produced for the current row.
struct ModelResult {
    var value: V = .missing
    /// Index of the predicted category in the model's `categories`, or -1.
    var category: Int32 = -1
    /// Index into the model's `entityIds` (tree node, cluster, rule), or -1.
    var entity: Int32 = -1
    var confidence: Double = .nan
    /// False when the probabilities in the model's region were not computed for this row.
    var hasProbabilities = false
}

final class Scratch {
    let program: Program
    /// The program's slot computers, unretained: the program (held here) keeps them alive, and calling
    /// one this way costs no reference counting.
    let computers: UnsafeMutableBufferPointer<Unmanaged<Computer>?>
    /// Copies of the program's per-row tables held as constants here, so that the hot loops read them
    /// without exclusivity checks on the program's (build-time mutable) properties.
    let inputPlans: [InputPlan]
    let resultSpecs: [ResultSpec]
    let top: ModelNode
    let values: UnsafeMutablePointer<V>
    let stamps: UnsafeMutablePointer<UInt32>
    let doubles: UnsafeMutablePointer<Double>
    let results: UnsafeMutablePointer<ModelResult>
    var generation: UInt32 = 1
    /// Strings met while scoring that the document never mentions; code -1 - index.
    var transient: [String] = []

    init(program: Program) {
        self.program = program
        computers = .allocate(capacity: max(program.computers.count, 1))
        computers.initialize(repeating: nil)
        for (index, computer) in program.computers.enumerated() {
            computers[index] = computer.map { Unmanaged.passUnretained($0) }
        }
        inputPlans = program.inputPlans
        resultSpecs = program.results
        top = program.top
        values = .allocate(capacity: max(program.slotCount, 1))
        values.initialize(repeating: .missing, count: max(program.slotCount, 1))
        stamps = .allocate(capacity: max(program.slotCount, 1))
        stamps.initialize(repeating: 0, count: max(program.slotCount, 1))
        doubles = .allocate(capacity: max(program.doubleCount, 1))
        doubles.initialize(repeating: 0, count: max(program.doubleCount, 1))
        results = .allocate(capacity: max(program.resultCount, 1))
        results.initialize(repeating: ModelResult(), count: max(program.resultCount, 1))
        transient.reserveCapacity(8)
    }

    deinit {
        computers.deallocate()
        values.deallocate()
        stamps.deallocate()
        doubles.deallocate()
        results.deallocate()
    }

    func beginRow() {
        generation &+= 1
        if generation == 0 {
            stamps.update(repeating: 0, count: max(program.slotCount, 1))
            generation = 1
        }
        if !transient.isEmpty { transient.removeAll(keepingCapacity: true) }
    }

    @inline(__always) func set(_ slot: Int32, _ value: V) {
        values[Int(slot)] = value
        stamps[Int(slot)] = generation
    }

    /// `set` with the row's generation already in hand (it cannot be kept in a register across stores).
    @inline(__always) func set(_ slot: Int32, _ value: V, generation: UInt32) {
        values[Int(slot)] = value
        stamps[Int(slot)] = generation
    }

    /// The value of a field slot, computing it first if nothing did in this row.
    @inline(__always) func fetch(_ slot: Int32) throws(PMMLError) -> V {
        let index = Int(slot)
        if stamps[index] == generation { return values[index] }
        return try compute(index)
    }

    private func compute(_ index: Int) throws(PMMLError) -> V {
        guard let computer = computers[index] else {
            // An input slot nobody set (a field that is not an input of this document) is missing.
            stamps[index] = generation
            values[index] = .missing
            return .missing
        }
        var failure: PMMLError?
        let value = computer._withUnsafeGuaranteedRef { (computer) -> V in
            do throws(PMMLError) {
                return try computer.run(self)
            } catch {
                failure = error
                return .missing
            }
        }
        if let failure { throw failure }
        values[index] = value
        stamps[index] = generation
        return value
    }

    func string(_ code: Int32) -> String {
        code >= 0 ? program.strings[Int(code)] : transient[Int(-1 - code)]
    }

    func intern(_ text: String) -> Int32 {
        if let code = program.codes[text] { return code }
        transient.append(text)
        return Int32(-transient.count)
    }

    /// A value as text, as PMML's string conversions see it.
    func text(of value: V, integer: Bool = false) -> String? {
        switch value.tag {
        case .missing: return nil
        case .string: return string(value.code)
        case .bool: return value.num != 0 ? "true" : "false"
        case .number:
            let isIntegral = value.num == value.num.rounded() && Swift.abs(value.num) < 1e15
            return javaString(value.num, integer: isIntegral)
        }
    }

    /// A value as a number: strings are parsed, booleans are 0/1. Nil when not numeric.
    func number(of value: V) -> Double? {
        switch value.tag {
        case .number, .bool: return value.num
        case .string: return parseDouble(string(value.code))
        case .missing: return nil
        }
    }
}

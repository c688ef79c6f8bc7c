// Scores rows against one compiled model. Holds the per-thread scratch buffers; create one per thread
// (it is cheap) and reuse it row after row. Plain numeric inputs and slot-reading results take short
// paths; everything else goes through the general conversion and the result readers.

public struct PMMLEvaluator {
    let scratch: Scratch
    /// The last result row. Once the caller has let go of it, its buffer is unique again and the next
    /// row is written into it in place, so scoring does not allocate a result array per row.
    private var output: [PMMLValue]

    init(program: Program) {
        scratch = Scratch(program: program)
        output = [PMMLValue](repeating: .missing, count: program.results.count)
    }

    /// Scores one row. `inputs` are aligned with `PMMLModel.inputFields`; the result with `resultFields`.
    public mutating func score(_ inputs: [PMMLValue]) throws(PMMLError) -> [PMMLValue] {
        try run(inputs)
        let scratch = scratch
        try scratch.resultSpecs.withUnsafeBufferPointer { (specs) throws(PMMLError) in
            for index in specs.indices {
                output[index] = export(try read(specs, index, scratch), specs[index].field.dataType)
            }
        }
        return output
    }

    /// A result's value; a plain slot read skips the reader closure.
    @inline(__always)
    private func read(_ specs: UnsafeBufferPointer<ResultSpec>, _ index: Int, _ scratch: Scratch) throws(PMMLError)
        -> V
    {
        let slot = specs[index].slot
        if slot >= 0 { return try scratch.fetch(slot) }
        return try specs[index].read(scratch)
    }

    /// Scores one row and returns the predicted target values alongside (for tests and diagnostics).
    func scoreWithTargets(_ inputs: [PMMLValue]) throws(PMMLError) -> (
        results: [PMMLValue], targets: [String: PMMLValue]
    ) {
        var copy = self
        let results = try copy.score(inputs)
        var targets: [String: PMMLValue] = [:]
        for target in scratch.program.targets {
            let value = try target.read(scratch)
            targets[target.name] = export(value, value.tag == .string ? .string : .double)
        }
        return (results, targets)
    }

    private func run(_ inputs: [PMMLValue]) throws(PMMLError) {
        let scratch = scratch
        guard inputs.count == scratch.inputPlans.count else {
            throw PMMLError(
                "expected \(scratch.inputPlans.count) input values (one per input field), "
                    + "got \(inputs.count)")
        }
        scratch.beginRow()
        let generation = scratch.generation
        inputs.withUnsafeBufferPointer { inputs in
            scratch.inputPlans.withUnsafeBufferPointer { plans in
                for index in plans.indices {
                    let plan = plans[index]
                    let value: V
                    // Doubles are what servers and the CSV reader pass; match them without copying the cell.
                    if plan.kind != .general, case .double(let number) = inputs[index] {
                        value = plainNumber(number, plan.kind)
                    } else {
                        value = convertPlain(inputs[index], plan.kind) ?? convert(inputs[index], index)
                    }
                    scratch.set(plan.slot, value, generation: generation)
                    if plan.treatedSlot >= 0 && !value.invalid {
                        scratch.set(plan.treatedSlot, value, generation: generation)
                    }
                }
            }
        }
        try scratch.top.evaluate(scratch)
    }

    /// The common case of `convert`: a number for a numeric field that declares no value restrictions.
    /// Nil when the general conversion is needed (strings, restricted or non-numeric fields).
    @inline(__always)
    private func convertPlain(_ input: PMMLValue, _ kind: InputPlan.Kind) -> V? {
        if kind == .general { return nil }
        let x: Double
        switch input {
        case .missing: return .missing
        case .double(let number): x = number
        case .float(let number): x = Double(number)
        case .int(let number): x = Double(number)
        case .bool(let flag): x = flag ? 1 : 0
        case .string: return nil
        }
        return plainNumber(x, kind)
    }

    /// A number for a field of a plain numeric kind: NaN is missing, floats are rounded to 32 bits, and
    /// fractions are invalid for integers.
    @inline(__always)
    private func plainNumber(_ number: Double, _ kind: InputPlan.Kind) -> V {
        if number.isNaN { return .missing }
        let x = kind == .plainFloat ? Double(Float(number)) : number
        var value = V.number(x)
        if kind == .plainInteger && x != x.rounded(.towardZero) { value.invalid = true }
        return value
    }

    private func convert(_ input: PMMLValue, _ index: Int) -> V {
        convert(input, scratch.program.inputs[index])
    }

    /// Lenient conversion of a caller value to the field's type, then DataDictionary validation.
    private func convert(_ input: PMMLValue, _ spec: InputSpec) -> V {
        var value: V
        switch spec.dataType {
        case .double, .float, .integer:
            var number: Double?
            switch input {
            case .missing: return .missing
            case .double(let x): number = x
            case .float(let x): number = Double(x)
            case .int(let x): number = Double(x)
            case .bool(let x): number = x ? 1 : 0
            case .string(let text):
                let trimmed = text.trimmingSpaces()
                if trimmed.isEmpty { return .missing }
                number = parseDouble(trimmed)
                if number == nil {
                    var invalid = V.string(scratch.intern(text))
                    invalid.invalid = true
                    return spec.missingStrings.contains(invalid.code) ? .missing : invalid
                }
            }
            guard var x = number else { return .missing }
            if x.isNaN { return .missing }
            if spec.dataType == .float { x = Double(Float(x)) }
            value = .number(x)
            if spec.dataType == .integer && x != x.rounded(.towardZero) { value.invalid = true }
            if spec.missingNumbers.contains(x) { return .missing }
            if spec.invalidNumbers.contains(x) { value.invalid = true }
            if let valid = spec.validNumbers, !valid.contains(x) { value.invalid = true }
            if !spec.intervals.isEmpty && !spec.intervals.contains(where: { $0.contains(x) }) { value.invalid = true }
        case .boolean:
            switch input {
            case .missing: return .missing
            case .bool(let x): value = .bool(x)
            case .int(let x) where x == 0 || x == 1: value = .bool(x == 1)
            case .double(let x) where x == 0 || x == 1: value = .bool(x == 1)
            case .string(let text):
                switch text.trimmingSpaces().lowercased() {
                case "": return .missing
                case "true", "1": value = .bool(true)
                case "false", "0": value = .bool(false)
                default:
                    value = .string(scratch.intern(text))
                    value.invalid = true
                }
            default:
                value = .missing
                value.invalid = true
            }
        default:
            let text: String
            switch input {
            case .missing: return .missing
            case .string(let x): text = x
            case .int(let x): text = String(x)
            case .double(let x):
                text = x == x.rounded() && Swift.abs(x) < 1e15 ? String(Int64(x)) : javaString(x, integer: false)
            case .float(let x): text = Double(x) == Double(x).rounded() ? String(Int64(x)) : "\(x)"
            case .bool(let x): text = x ? "true" : "false"
            }
            value = .string(scratch.intern(text))
            if spec.missingStrings.contains(value.code) { return .missing }
            if spec.invalidStrings.contains(value.code) { value.invalid = true }
            if let valid = spec.validStrings, !valid.contains(value.code) { value.invalid = true }
        }
        return value
    }

    private func export(_ value: V, _ dataType: PMMLDataType) -> PMMLValue {
        switch value.tag {
        case .missing: return .missing
        case .string:
            let text = scratch.string(value.code)
            if dataType.isNumeric, let number = parseDouble(text) { return export(.number(number), dataType) }
            if dataType == .boolean, text == "true" || text == "false" { return .bool(text == "true") }
            return .string(text)
        case .bool:
            switch dataType {
            case .boolean: return .bool(value.num != 0)
            case .string: return .string(value.num != 0 ? "true" : "false")
            default: return export(.number(value.num), dataType)
            }
        case .number:
            switch dataType {
            case .double: return .double(value.num)
            case .float: return .float(Float(value.num))
            case .integer:
                if let exact = Int64(exactly: value.num) { return .int(exact) }
                return .double(value.num)
            case .boolean: return .bool(value.num != 0)
            default: return .string(scratch.text(of: value) ?? "")
            }
        }
    }
}

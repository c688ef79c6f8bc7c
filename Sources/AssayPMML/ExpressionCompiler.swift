// Compiles PMML expressions (Constant, FieldRef, NormContinuous, NormDiscrete, Discretize, MapValues,
// Apply) into closures over the scratch buffers. Field references become slot reads; lookup tables
// become dictionaries keyed by interned values. Aggregate, Lag and TextIndex are refused.

#if canImport(Glibc)
    import Glibc
#endif

/// A compiled expression and the data type it yields, when known.
struct TypedExpr {
    let expr: Expr
    let dataType: PMMLDataType?
    /// The value, when the expression is a constant (so callers can use it without a call).
    var constant: V?
    /// The slot, when the expression only reads a field (no mapMissingTo).
    var slot: Int32?
}

/// A hashable identity of a value, for lookup tables.
struct ValueKey: Hashable {
    let tag: UInt8
    let bits: UInt64

    init(_ value: V) {
        tag = value.tag.rawValue
        switch value.tag {
        case .string: bits = UInt64(UInt32(bitPattern: value.code))
        case .number, .bool: bits = value.num == 0 ? 0 : value.num.bitPattern
        case .missing: bits = 0
        }
    }
}

enum Casting {
    /// Converts a value to a declared data type; values that cannot convert become missing.
    static func convert(_ value: V, to dataType: PMMLDataType, _ scratch: Scratch) -> V {
        if value.isMissing { return value }
        switch dataType {
        case .double:
            if value.tag == .number { return value }
            return scratch.number(of: value).map { .number($0) } ?? .missing
        case .float:
            guard let number = scratch.number(of: value) else { return .missing }
            return .number(Double(Float(number)))
        case .integer:
            guard let number = scratch.number(of: value), number.isFinite else { return .missing }
            return .number(number.rounded(.towardZero))
        case .boolean:
            switch value.tag {
            case .bool: return value
            case .number: return .bool(value.num != 0)
            default:
                switch scratch.string(value.code).trimmingSpaces().lowercased() {
                case "true", "1": return .bool(true)
                case "false", "0": return .bool(false)
                default: return .missing
                }
            }
        default:
            if value.tag == .string { return value }
            guard let text = scratch.text(of: value) else { return .missing }
            return .string(scratch.intern(text))
        }
    }

    static func cast(_ expr: @escaping Expr, from: PMMLDataType?, to: PMMLDataType?) -> Expr {
        guard let to, to != from else { return expr }
        if to == .double && (from == .integer || from == .float) { return expr }
        return { (scratch: Scratch) throws(PMMLError) -> V in convert(try expr(scratch), to: to, scratch) }
    }
}

struct ExpressionCompiler {
    let compiler: Compiler
    let scope: Scope

    static let expressionElements: Set<String> = [
        "Constant", "FieldRef", "NormContinuous", "NormDiscrete", "Discretize", "MapValues", "Apply",
    ]

    func compile(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        switch element.name {
        case "Constant": return try constant(element)
        case "FieldRef": return try fieldRef(element)
        case "NormContinuous": return try normContinuous(element)
        case "NormDiscrete": return try normDiscrete(element)
        case "Discretize": return try discretize(element)
        case "MapValues": return try mapValues(element)
        case "Apply": return try FunctionCompiler(expressions: self).apply(element)
        default: throw .unsupported(element.name)
        }
    }

    /// Expression children of an element, in order (Extensions skipped).
    func arguments(_ element: XMLElement) -> [XMLElement] {
        element.children.filter { $0.name != "Extension" }
    }

    func mapMissing(_ element: XMLElement, _ dataType: PMMLDataType?) throws(PMMLError) -> V? {
        guard let text = element.attribute("mapMissingTo") else { return nil }
        return try compiler.literal(text, dataType)
    }

    private func constant(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let dataType = try compiler.parseDataType(element, required: false)
        if element.attribute("missing") == "true" {
            return TypedExpr(expr: { (_: Scratch) throws(PMMLError) -> V in .missing }, dataType: dataType)
        }
        let text = element.text.trimmingSpaces()
        let value: V
        var inferred = dataType
        if dataType == nil {
            if let number = parseDouble(text) {
                value = .number(number)
                inferred =
                    Int64(exactly: number) != nil && !text.contains(".") && !text.contains("e")
                        && !text.contains("E") ? .integer : .double
            } else {
                value = .string(compiler.table.intern(element.text))
                inferred = .string
            }
        } else if dataType == .string {
            value = .string(compiler.table.intern(element.text))
        } else {
            value = try compiler.literal(text, dataType)
        }
        return TypedExpr(expr: { (_: Scratch) throws(PMMLError) -> V in value }, dataType: inferred, constant: value)
    }

    private func fieldRef(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let field = try scope.lookup(try element.required("field"))
        let slot = field.slot
        if let replacement = try mapMissing(element, field.dataType) {
            return TypedExpr(
                expr: { (scratch: Scratch) throws(PMMLError) -> V in
                    let value = try scratch.fetch(slot)
                    return value.isMissing ? replacement : value
                }, dataType: field.dataType)
        }
        return TypedExpr(
            expr: { (scratch: Scratch) throws(PMMLError) -> V in try scratch.fetch(slot) },
            dataType: field.dataType, slot: slot)
    }

    private func normContinuous(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let name = try element.required("field")
        let slot = try scope.lookup(name).slot
        var points: [(orig: Double, norm: Double)] = []
        for item in element.children("LinearNorm") {
            points.append((try item.requiredDouble("orig"), try item.requiredDouble("norm")))
        }
        guard points.count >= 2 else {
            throw PMMLError(
                "NormContinuous for '\(name)' needs at least two LinearNorm elements",
                element: "NormContinuous", field: name)
        }
        points.sort { $0.orig < $1.orig }
        let origs = points.map(\.orig)
        let norms = points.map(\.norm)
        let replacement = try mapMissing(element, .double)
        let outliers = element.attribute("outliers") ?? "asIs"
        guard ["asIs", "asMissingValues", "asExtremeValues"].contains(outliers) else {
            throw .unsupported("NormContinuous", attribute: "outliers", value: outliers)
        }
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            let raw = try scratch.fetch(slot)
            guard let x = scratch.number(of: raw) else { return replacement ?? .missing }
            let last = origs.count - 1
            var segment = 0
            if x < origs[0] {
                if outliers == "asMissingValues" { return .missing }
                if outliers == "asExtremeValues" { return .number(norms[0]) }
            } else if x > origs[last] {
                if outliers == "asMissingValues" { return .missing }
                if outliers == "asExtremeValues" { return .number(norms[last]) }
                segment = last - 1
            } else {
                while segment < last - 1 && x > origs[segment + 1] { segment += 1 }
            }
            let (x0, x1, y0, y1) = (origs[segment], origs[segment + 1], norms[segment], norms[segment + 1])
            return .number(y0 + (x - x0) / (x1 - x0) * (y1 - y0))
        }
        return TypedExpr(expr: expr, dataType: .double)
    }

    private func normDiscrete(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let field = try scope.lookup(try element.required("field"))
        let slot = field.slot
        let target = try compiler.literal(try element.required("value"), field.dataType ?? .string)
        let replacement = try mapMissing(element, .double)
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            let value = try scratch.fetch(slot)
            if value.isMissing { return replacement ?? .missing }
            return .number(Comparison.equal(value, target, scratch) ? 1 : 0)
        }
        return TypedExpr(expr: expr, dataType: .double)
    }

    private func discretize(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let field = try scope.lookup(try element.required("field"))
        let slot = field.slot
        let dataType = try compiler.parseDataType(element, required: false) ?? .string
        var bins: [(Interval, V)] = []
        for bin in element.children("DiscretizeBin") {
            guard let interval = bin.child("Interval") else {
                throw PMMLError("DiscretizeBin without an Interval", element: "DiscretizeBin")
            }
            bins.append((try Interval(interval), try compiler.literal(try bin.required("binValue"), dataType)))
        }
        let replacement = try mapMissing(element, dataType)
        let fallback = try element.attribute("defaultValue").map { (text) throws(PMMLError) -> V in
            try compiler.literal(text, dataType)
        }
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            let value = try scratch.fetch(slot)
            guard let x = scratch.number(of: value) else { return replacement ?? .missing }
            for (interval, result) in bins where interval.contains(x) { return result }
            return fallback ?? .missing
        }
        return TypedExpr(expr: expr, dataType: dataType)
    }

    private func mapValues(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let dataType = try compiler.parseDataType(element, required: false) ?? .string
        let outputColumn = try element.required("outputColumn")
        var inputs: [(slot: Int32, column: String, dataType: PMMLDataType?)] = []
        for pair in element.children("FieldColumnPair") {
            let field = try scope.lookup(try pair.required("field"))
            inputs.append((field.slot, try pair.required("column"), field.dataType))
        }
        if element.child("TableLocator") != nil { throw .unsupported("TableLocator") }
        guard let table = element.child("InlineTable") else {
            throw PMMLError("MapValues without an InlineTable", element: "MapValues")
        }
        var rows: [([V], V)] = []
        for row in table.children("row") {
            var keys: [V] = []
            var output: V?
            for input in inputs {
                guard let cell = row.child(input.column) else { break }
                keys.append(try compiler.literal(cell.text, input.dataType ?? .string))
            }
            if let cell = row.child(outputColumn) { output = try compiler.literal(cell.text, dataType) }
            guard keys.count == inputs.count, let output else { continue }
            rows.append((keys, output))
        }
        let replacement = try mapMissing(element, dataType)
        let fallback = try element.attribute("defaultValue").map { (text) throws(PMMLError) -> V in
            try compiler.literal(text, dataType)
        }
        let slots = inputs.map(\.slot)
        if slots.count == 1 {
            var lookup: [ValueKey: V] = [:]
            for (keys, output) in rows where lookup[ValueKey(keys[0])] == nil { lookup[ValueKey(keys[0])] = output }
            let slot = slots[0]
            let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
                let value = try scratch.fetch(slot)
                if value.isMissing { return replacement ?? .missing }
                return lookup[ValueKey(value)] ?? fallback ?? .missing
            }
            return TypedExpr(expr: expr, dataType: dataType)
        }
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            var values: [V] = []
            values.reserveCapacity(slots.count)
            for slot in slots {
                let value = try scratch.fetch(slot)
                if value.isMissing { return replacement ?? .missing }
                values.append(value)
            }
            rowLoop: for (keys, output) in rows {
                for index in keys.indices where !keys[index].same(values[index]) { continue rowLoop }
                return output
            }
            return fallback ?? .missing
        }
        return TypedExpr(expr: expr, dataType: dataType)
    }
}

/// Comparisons between runtime values with PMML's loose typing: numbers compare numerically (strings
/// that hold numbers included), strings by identity or lexicographically.
enum Comparison {
    static func equal(_ left: V, _ right: V, _ scratch: Scratch) -> Bool {
        if left.tag == right.tag { return left.same(right) }
        if let a = scratch.number(of: left), let b = scratch.number(of: right) { return a == b }
        return scratch.text(of: left) == scratch.text(of: right)
    }

    /// Negative, zero or positive; nil when the values cannot be ordered.
    static func order(_ left: V, _ right: V, _ scratch: Scratch) -> Int? {
        if left.tag != .string || right.tag != .string,
            let a = scratch.number(of: left), let b = scratch.number(of: right)
        {
            return a < b ? -1 : (a > b ? 1 : 0)
        }
        guard let a = scratch.text(of: left), let b = scratch.text(of: right) else { return nil }
        return a < b ? -1 : (a > b ? 1 : 0)
    }
}

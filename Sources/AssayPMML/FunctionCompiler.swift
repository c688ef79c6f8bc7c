// Compiles `Apply` into closures: PMML's built-in functions and user functions from DefineFunction.
// Built-ins are chosen at load time, so scoring runs a direct closure with no name dispatch. Functions
// not implemented here (dates, formatting, inverse normal) are refused at load with their name.

#if canImport(Glibc)
    import Glibc
#endif

struct FunctionCompiler {
    let expressions: ExpressionCompiler
    var compiler: Compiler { expressions.compiler }

    func apply(_ element: XMLElement) throws(PMMLError) -> TypedExpr {
        let name = try element.required("function")
        let args = try expressions.arguments(element).map { (child) throws(PMMLError) -> TypedExpr in
            try expressions.compile(child)
        }
        let body: TypedExpr
        var propagatesMissing = true
        // Without mapMissingTo or defaultValue, the arithmetic closures apply invalidValueTreatment to NaN
        // themselves, and the body is returned without a wrapping closure.
        let fusable = element.attribute("mapMissingTo") == nil && element.attribute("defaultValue") == nil
        let nan: NaNTreatment
        switch element.attribute("invalidValueTreatment") ?? "returnInvalid" {
        case "asIs": nan = .asIs
        case "asMissing": nan = .asMissing
        default: nan = .returnInvalid
        }
        var fused = false
        if let definition = compiler.functions[name] {
            body = try userFunction(definition, args)
        } else {
            (body, propagatesMissing, fused) = try builtin(name, args, nan: fusable ? nan : nil)
        }
        let replacement = try expressions.mapMissing(element, body.dataType)
        let fallback = try element.attribute("defaultValue").map { (text) throws(PMMLError) -> V in
            try compiler.literal(text, body.dataType)
        }
        let treatment = element.attribute("invalidValueTreatment") ?? "returnInvalid"
        guard ["returnInvalid", "asIs", "asMissing"].contains(treatment) else {
            throw .unsupported("Apply", attribute: "invalidValueTreatment", value: treatment)
        }
        if fused { return body }
        let run = body.expr
        let checkArgs = propagatesMissing && replacement != nil
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            if checkArgs {
                for arg in args where try arg.expr(scratch).isMissing { return replacement! }
            }
            var value = try run(scratch)
            if value.isMissing { return fallback ?? replacement ?? .missing }
            if value.tag == .number && value.num.isNaN {
                switch treatment {
                case "asIs": break
                case "asMissing": value = .missing
                default:
                    throw PMMLError("function '\(name)' produced an invalid result (NaN)", element: "Apply")
                }
            }
            return value
        }
        return TypedExpr(expr: expr, dataType: body.dataType)
    }

    private func userFunction(_ definition: XMLElement, _ args: [TypedExpr]) throws(PMMLError) -> TypedExpr {
        let name = try definition.required("name")
        let parameters = definition.children("ParameterField")
        guard parameters.count == args.count else {
            throw PMMLError(
                "function '\(name)' takes \(parameters.count) arguments, not \(args.count)",
                element: "Apply")
        }
        // Each call site gets its own copy of the body, with parameters bound to the caller's arguments.
        let scope = Scope(compiler: compiler, parent: expressions.scope, isolated: true)
        for (parameter, arg) in zip(parameters, args) {
            let parameterName = try parameter.required("name")
            let dataType = try compiler.parseDataType(parameter, required: false)
            let slot = compiler.newSlot(parameterName, Casting.cast(arg.expr, from: arg.dataType, to: dataType))
            scope.fields[parameterName] = FieldInfo(
                name: parameterName, slot: slot, dataType: dataType ?? arg.dataType,
                optype: parameter.attribute("optype"), values: [])
        }
        guard
            let bodyElement = definition.children.first(where: {
                ExpressionCompiler.expressionElements.contains($0.name) || $0.name == "Aggregate" || $0.name == "Lag"
                    || $0.name == "TextIndex"
            })
        else {
            throw PMMLError("function '\(name)' has no body expression", element: "DefineFunction")
        }
        let body = try ExpressionCompiler(compiler: compiler, scope: scope).compile(bodyElement)
        let dataType = try compiler.parseDataType(definition, required: false)
        // Parameter slots are cached per row; a call evaluated twice in one row must see fresh arguments.
        let slots = scope.fields.values.map(\.slot)
        let run = body.expr
        let expr: Expr = { (scratch: Scratch) throws(PMMLError) -> V in
            for slot in slots { scratch.stamps[Int(slot)] = 0 }
            return try run(scratch)
        }
        return TypedExpr(
            expr: Casting.cast(expr, from: body.dataType, to: dataType), dataType: dataType ?? body.dataType)
    }

    private func arity(_ name: String, _ args: [TypedExpr], _ range: ClosedRange<Int>) throws(PMMLError) {
        guard range.contains(args.count) else {
            let expected =
                range.lowerBound == range.upperBound
                ? "\(range.lowerBound)"
                : range.upperBound == Int.max
                    ? "at least \(range.lowerBound)"
                    : "\(range.lowerBound) to \(range.upperBound)"
            throw PMMLError("function '\(name)' takes \(expected) arguments, not \(args.count)", element: "Apply")
        }
    }

    /// The type arithmetic yields: float only when no operand is double, as JPMML does.
    private func numericType(_ args: [TypedExpr], integerClosed: Bool) -> PMMLDataType {
        let types = args.map { $0.dataType ?? .double }
        if types.contains(.double) || types.contains(.string) { return .double }
        if types.contains(.float) { return .float }
        return integerClosed && types.allSatisfy({ $0 == .integer }) ? .integer : .double
    }

    /// A built-in; with `nan`, the arithmetic ones come in their fused form (see `arithmetic`).
    private func builtin(_ name: String, _ args: [TypedExpr], nan: NaNTreatment?) throws(PMMLError)
        -> (TypedExpr, Bool, fused: Bool)
    {
        let (expr, propagatesMissing) = try builtin(name, args)
        if let nan, let arithmetic = try arithmetic(name, args, nan) { return (arithmetic, true, true) }
        return (expr, propagatesMissing, false)
    }

    /// The arithmetic built-ins (+, -, *, /) with Apply's NaN treatment folded in, reading constant and
    /// field arguments directly. Nil for other functions.
    private func arithmetic(_ name: String, _ args: [TypedExpr], _ nan: NaNTreatment) throws(PMMLError) -> TypedExpr? {
        let op: Arithmetic
        switch name {
        case "+": op = .add
        case "-": op = .subtract
        case "*": op = .multiply
        case "/": op = .divide
        default: return nil
        }
        try arity(name, args, 2...2)
        let type = numericType(args, integerClosed: op != .divide)
        let float = type == .float
        let (a, b) = (NumericOperand(args[0]), NumericOperand(args[1]))
        return TypedExpr(
            expr: { (scratch: Scratch) throws(PMMLError) -> V in
                guard let x = try a.number(scratch), let y = try b.number(scratch) else { return .missing }
                var z = op.apply(x, y)
                if float { z = Double(Float(z)) }
                if z.isNaN {
                    switch nan {
                    case .asIs: break
                    case .asMissing: return .missing
                    case .returnInvalid:
                        throw PMMLError("function '\(name)' produced an invalid result (NaN)", element: "Apply")
                    }
                }
                return .number(z)
            }, dataType: type)
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private func builtin(_ name: String, _ args: [TypedExpr]) throws(PMMLError) -> (TypedExpr, Bool) {
        // Closures are read from `args` (struct fields), not from an array of closures: array elements
        // are kept in their most general form, and every call would go through a reabstraction thunk.
        func numeric1(_ f: @escaping (Double) -> Double) throws(PMMLError) -> (TypedExpr, Bool) {
            try arity(name, args, 1...1)
            let a = NumericOperand(args[0])
            let float = numericType(args, integerClosed: false) == .float
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        guard let x = try a.number(scratch) else { return .missing }
                        let y = f(x)
                        return .number(float ? Double(Float(y)) : y)
                    }, dataType: float ? .float : .double), true
            )
        }
        func numeric2(_ type: PMMLDataType, _ f: @escaping (Double, Double) -> Double) throws(PMMLError)
            -> (TypedExpr, Bool)
        {
            try arity(name, args, 2...2)
            let (a, b) = (NumericOperand(args[0]), NumericOperand(args[1]))
            let float = type == .float
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        guard let x = try a.number(scratch), let y = try b.number(scratch) else {
                            return .missing
                        }
                        let z = f(x, y)
                        return .number(float ? Double(Float(z)) : z)
                    }, dataType: type), true
            )
        }
        func aggregate(_ f: @escaping ([Double]) -> Double) throws(PMMLError) -> (TypedExpr, Bool) {
            try arity(name, args, 1...Int.max)
            let type = numericType(args, integerClosed: name == "min" || name == "max" || name == "sum")
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        // Missing arguments are skipped, as PMML specifies for these functions.
                        var values: [Double] = []
                        values.reserveCapacity(args.count)
                        for arg in args { if let x = scratch.number(of: try arg.expr(scratch)) { values.append(x) } }
                        if values.isEmpty { return .missing }
                        let z = f(values)
                        return .number(type == .float ? Double(Float(z)) : z)
                    }, dataType: type), false
            )
        }
        func compare(_ f: @escaping (Int) -> Bool) throws(PMMLError) -> (TypedExpr, Bool) {
            try arity(name, args, 2...2)
            let (a, b) = (args[0].expr, args[1].expr)
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let x = try a(scratch), y = try b(scratch)
                        if x.isMissing || y.isMissing { return .missing }
                        guard let order = Comparison.order(x, y, scratch) else { return .missing }
                        return .bool(f(order))
                    }, dataType: .boolean), true
            )
        }
        func string1(_ f: @escaping (String) -> String) throws(PMMLError) -> (TypedExpr, Bool) {
            try arity(name, args, 1...1)
            let a = args[0].expr
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        guard let text = scratch.text(of: try a(scratch)) else { return .missing }
                        return .string(scratch.intern(f(text)))
                    }, dataType: .string), true
            )
        }

        switch name {
        case "+": return try numeric2(numericType(args, integerClosed: true), +)
        case "-": return try numeric2(numericType(args, integerClosed: true), -)
        case "*": return try numeric2(numericType(args, integerClosed: true), *)
        case "/":
            let type = numericType(args, integerClosed: false)
            return try numeric2(type, /)
        case "pow": return try numeric2(numericType(args, integerClosed: false), { Glibc.pow($0, $1) })
        case "modulo":
            return try numeric2(numericType(args, integerClosed: true), { x, y in x - y * (x / y).rounded(.down) })
        case "threshold": return try numeric2(.integer, { $0 > $1 ? 1 : 0 })
        case "atan2": return try numeric2(.double, { Glibc.atan2($0, $1) })
        case "hypot": return try numeric2(.double, { Glibc.hypot($0, $1) })
        case "min": return try aggregate { $0.min()! }
        case "max": return try aggregate { $0.max()! }
        case "sum": return try aggregate { $0.reduce(0, +) }
        case "product": return try aggregate { $0.reduce(1, *) }
        case "avg": return try aggregate { $0.reduce(0, +) / Double($0.count) }
        case "median":
            return try aggregate { values in
                let sorted = values.sorted()
                let middle = sorted.count / 2
                return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
            }
        case "log10": return try numeric1 { Glibc.log10($0) }
        case "ln": return try numeric1 { Glibc.log($0) }
        case "exp": return try numeric1 { Glibc.exp($0) }
        case "sqrt": return try numeric1 { Glibc.sqrt($0) }
        case "abs": return try numeric1 { Swift.abs($0) }
        case "floor": return try numeric1 { $0.rounded(.down) }
        case "ceil": return try numeric1 { $0.rounded(.up) }
        case "round": return try numeric1 { ($0 + 0.5).rounded(.down) }
        case "rint": return try numeric1 { $0.rounded(.toNearestOrEven) }
        case "expm1": return try numeric1 { Glibc.expm1($0) }
        case "log1p": return try numeric1 { Glibc.log1p($0) }
        case "sin": return try numeric1 { Glibc.sin($0) }
        case "cos": return try numeric1 { Glibc.cos($0) }
        case "tan": return try numeric1 { Glibc.tan($0) }
        case "asin": return try numeric1 { Glibc.asin($0) }
        case "acos": return try numeric1 { Glibc.acos($0) }
        case "atan": return try numeric1 { Glibc.atan($0) }
        case "sinh": return try numeric1 { Glibc.sinh($0) }
        case "cosh": return try numeric1 { Glibc.cosh($0) }
        case "tanh": return try numeric1 { Glibc.tanh($0) }
        case "erf": return try numeric1 { Glibc.erf($0) }
        case "stdNormalCDF": return try numeric1 { 0.5 * Glibc.erfc(-$0 / 2.0.squareRoot()) }
        case "stdNormalPDF": return try numeric1 { Glibc.exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot() }
        case "x-sigmoid", "sigmoid": return try numeric1 { 1 / (1 + Glibc.exp(-$0)) }
        case "normalCDF", "normalPDF":
            try arity(name, args, 3...3)
            let (a, b, c) = (args[0].expr, args[1].expr, args[2].expr)
            let cdf = name == "normalCDF"
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        guard let x = scratch.number(of: try a(scratch)), let mu = scratch.number(of: try b(scratch)),
                            let sigma = scratch.number(of: try c(scratch))
                        else { return .missing }
                        let z = (x - mu) / sigma
                        if cdf { return .number(0.5 * Glibc.erfc(-z / 2.0.squareRoot())) }
                        return .number(Glibc.exp(-z * z / 2) / (sigma * (2 * Double.pi).squareRoot()))
                    }, dataType: .double), true
            )
        case "isMissing", "isNotMissing", "isValid", "isInvalid":
            try arity(name, args, 1...1)
            let a = args[0].expr
            let wantMissing = name == "isMissing" || name == "isInvalid"
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let value = try a(scratch)
                        let flagged = name.hasSuffix("Missing") ? value.isMissing : value.invalid
                        return .bool(flagged == wantMissing ? true : false)
                    }, dataType: .boolean), false
            )
        case "equal", "notEqual":
            try arity(name, args, 2...2)
            let (a, b) = (args[0].expr, args[1].expr)
            let want = name == "equal"
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let x = try a(scratch), y = try b(scratch)
                        if x.isMissing || y.isMissing { return .missing }
                        return .bool(Comparison.equal(x, y, scratch) == want)
                    }, dataType: .boolean), true
            )
        case "lessThan": return try compare { $0 < 0 }
        case "lessOrEqual": return try compare { $0 <= 0 }
        case "greaterThan": return try compare { $0 > 0 }
        case "greaterOrEqual": return try compare { $0 >= 0 }
        case "and", "or":
            try arity(name, args, 2...Int.max)
            let isAnd = name == "and"
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        var sawMissing = false
                        for arg in args {
                            let value = try arg.expr(scratch)
                            if value.isMissing { sawMissing = true; continue }
                            let truth = scratch.number(of: value).map { $0 != 0 } ?? false
                            if isAnd && !truth { return .bool(false) }
                            if !isAnd && truth { return .bool(true) }
                        }
                        return sawMissing ? .missing : .bool(isAnd)
                    }, dataType: .boolean), false
            )
        case "not":
            try arity(name, args, 1...1)
            let a = args[0].expr
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let value = try a(scratch)
                        guard let x = scratch.number(of: value) else { return .missing }
                        return .bool(x == 0)
                    }, dataType: .boolean), true
            )
        case "isIn", "isNotIn":
            try arity(name, args, 2...Int.max)
            let want = name == "isIn"
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let value = try args[0].expr(scratch)
                        if value.isMissing { return .missing }
                        for arg in args.dropFirst() where Comparison.equal(value, try arg.expr(scratch), scratch) {
                            return .bool(want)
                        }
                        return .bool(!want)
                    }, dataType: .boolean), true
            )
        case "if":
            try arity(name, args, 2...3)
            let condition = args[0].expr, then = args[1].expr
            let hasOtherwise = args.count == 3
            let otherwise = args[args.count - 1].expr
            let type = args[1].dataType ?? (args.count == 3 ? args[2].dataType : nil)
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        let test = try condition(scratch)
                        guard let x = scratch.number(of: test) else { return .missing }
                        if x != 0 { return try then(scratch) }
                        return hasOtherwise ? try otherwise(scratch) : .missing
                    }, dataType: type), false
            )
        case "uppercase": return try string1 { $0.uppercased() }
        case "lowercase": return try string1 { $0.lowercased() }
        case "trimBlanks": return try string1 { $0.trimmingSpaces() }
        case "concat":
            try arity(name, args, 1...Int.max)
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        var text = ""
                        for arg in args {
                            let value = try arg.expr(scratch)
                            if let part = scratch.text(of: value) { text += part }
                        }
                        return .string(scratch.intern(text))
                    }, dataType: .string), false
            )
        case "substring":
            try arity(name, args, 3...3)
            let (a, b, c) = (args[0].expr, args[1].expr, args[2].expr)
            return (
                TypedExpr(
                    expr: { (scratch: Scratch) throws(PMMLError) -> V in
                        guard let text = scratch.text(of: try a(scratch)),
                            let start = scratch.number(of: try b(scratch)),
                            let length = scratch.number(of: try c(scratch))
                        else { return .missing }
                        let characters = Array(text)
                        let from = max(0, min(characters.count, Int(start) - 1))
                        let to = max(from, min(characters.count, from + Int(length)))
                        return .string(scratch.intern(String(characters[from..<to])))
                    }, dataType: .string), true
            )
        default:
            throw PMMLError("unsupported PMML function '\(name)'", element: "Apply")
        }
    }
}

// The pieces of the arithmetic built-ins' fast form (see `FunctionCompiler.arithmetic`): operands read
// without a closure call when they are constants or fields, the operator as an enum, and Apply's NaN rule.

/// What Apply does with a NaN result (`invalidValueTreatment`).
enum NaNTreatment {
    case asIs, asMissing, returnInvalid
}

/// The four arithmetic operators, chosen at load time.
enum Arithmetic {
    case add, subtract, multiply, divide

    @inline(__always)
    func apply(_ x: Double, _ y: Double) -> Double {
        switch self {
        case .add: return x + y
        case .subtract: return x - y
        case .multiply: return x * y
        case .divide: return x / y
        }
    }
}

/// A numeric function argument: constants and plain field references are read directly, other
/// expressions through their closure. `number` gives what `scratch.number(of:)` of the value would.
struct NumericOperand {
    private enum Kind {
        case constant, field, expression
    }

    private let kind: Kind
    private let constant: Double?
    private let slot: Int32
    private let expr: Expr

    init(_ arg: TypedExpr) {
        expr = arg.expr
        slot = arg.slot ?? -1
        if let value = arg.constant, value.tag != .string {
            kind = .constant
            constant = value.isMissing ? nil : value.num
        } else {
            kind = arg.slot != nil ? .field : .expression
            constant = nil
        }
    }

    @inline(__always)
    func number(_ scratch: Scratch) throws(PMMLError) -> Double? {
        let value: V
        switch kind {
        case .constant: return constant
        case .field: value = try scratch.fetch(slot)
        case .expression: value = try expr(scratch)
        }
        return value.tag == .number ? value.num : scratch.number(of: value)
    }
}

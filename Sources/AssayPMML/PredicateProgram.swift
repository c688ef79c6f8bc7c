// Predicates (SimplePredicate, SimpleSetPredicate, CompoundPredicate incl. surrogate, True, False)
// flattened into arrays and evaluated in PMML's three-valued logic. Constants are parsed at load time
// according to the field's data type, so a comparison at scoring time is a number or code comparison.

enum Truth: Int8 {
    case falsy = 0, truthy = 1, unknown = -1
}

final class PredicateProgram {
    enum Op: UInt8 {
        case alwaysTrue, alwaysFalse
        case equal, notEqual, lessThan, lessOrEqual, greaterThan, greaterOrEqual, isMissing, isNotMissing
        case isIn, isNotIn
        case and, or, xor, surrogate
    }

    struct Node {
        var op: Op
        var slot: Int32 = 0
        var constant: V = .missing
        /// SimpleSetPredicate values or CompoundPredicate children: a range of `members` / `children`.
        var start: Int32 = 0
        var count: Int32 = 0
    }

    private(set) var nodes: [Node] = []
    private(set) var members: [V] = []
    private(set) var children: [Int32] = []

    static let elements: Set<String> = ["SimplePredicate", "SimpleSetPredicate", "CompoundPredicate", "True", "False"]

    /// Compiles the predicate child of `element` (the first predicate element), returning its index.
    func compile(childOf element: XMLElement, _ scope: Scope) throws(PMMLError) -> Int32 {
        guard let predicate = element.children.first(where: { PredicateProgram.elements.contains($0.name) }) else {
            if let other = element.children.first(where: { $0.name.hasSuffix("Predicate") }) {
                throw .unsupported(other.name)
            }
            throw PMMLError("element '\(element.name)' (line \(element.line)) has no predicate", element: element.name)
        }
        return try compile(predicate, scope)
    }

    func compile(_ element: XMLElement, _ scope: Scope) throws(PMMLError) -> Int32 {
        var node: Node
        switch element.name {
        case "True": node = Node(op: .alwaysTrue)
        case "False": node = Node(op: .alwaysFalse)
        case "SimplePredicate":
            let field = try scope.lookup(try element.required("field"))
            let raw = try element.required("operator")
            let op: Op
            switch raw {
            case "equal": op = .equal
            case "notEqual": op = .notEqual
            case "lessThan": op = .lessThan
            case "lessOrEqual": op = .lessOrEqual
            case "greaterThan": op = .greaterThan
            case "greaterOrEqual": op = .greaterOrEqual
            case "isMissing": op = .isMissing
            case "isNotMissing": op = .isNotMissing
            default: throw .unsupported("SimplePredicate", attribute: "operator", value: raw)
            }
            node = Node(op: op, slot: field.slot)
            if op != .isMissing && op != .isNotMissing {
                node.constant = try scope.compiler.literal(try element.required("value"), field.dataType ?? nil)
            }
        case "SimpleSetPredicate":
            let field = try scope.lookup(try element.required("field"))
            let raw = try element.required("booleanOperator")
            guard raw == "isIn" || raw == "isNotIn" else {
                throw .unsupported("SimpleSetPredicate", attribute: "booleanOperator", value: raw)
            }
            guard let array = element.child("Array") else {
                throw PMMLError("SimpleSetPredicate without an Array", element: "SimpleSetPredicate")
            }
            let values = try ArrayParser.strings(array)
            node = Node(op: raw == "isIn" ? .isIn : .isNotIn, slot: field.slot)
            node.start = Int32(members.count)
            node.count = Int32(values.count)
            let arrayType = array.attribute("type")
            for value in values {
                let type: PMMLDataType? = field.dataType ?? (arrayType == "string" ? .string : nil)
                members.append(try scope.compiler.literal(value, type))
            }
        case "CompoundPredicate":
            let raw = try element.required("booleanOperator")
            let op: Op
            switch raw {
            case "and": op = .and
            case "or": op = .or
            case "xor": op = .xor
            case "surrogate": op = .surrogate
            default: throw .unsupported("CompoundPredicate", attribute: "booleanOperator", value: raw)
            }
            var indices: [Int32] = []
            for child in element.children where child.name != "Extension" {
                guard PredicateProgram.elements.contains(child.name) else { throw .unsupported(child.name) }
                indices.append(try compile(child, scope))
            }
            node = Node(op: op)
            node.start = Int32(children.count)
            node.count = Int32(indices.count)
            children.append(contentsOf: indices)
        default:
            throw .unsupported(element.name)
        }
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    func evaluate(_ index: Int32, _ scratch: Scratch) throws(PMMLError) -> Truth {
        let node = nodes[Int(index)]
        switch node.op {
        case .alwaysTrue: return .truthy
        case .alwaysFalse: return .falsy
        case .isMissing: return try scratch.fetch(node.slot).isMissing ? .truthy : .falsy
        case .isNotMissing: return try scratch.fetch(node.slot).isMissing ? .falsy : .truthy
        case .equal, .notEqual, .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
            let value = try scratch.fetch(node.slot)
            if value.isMissing { return .unknown }
            let constant = node.constant
            let order: Int
            if value.tag == .number && constant.tag == .number {
                order = value.num < constant.num ? -1 : (value.num > constant.num ? 1 : 0)
            } else if value.tag == .string && constant.tag == .string
                && (node.op == .equal || node.op == .notEqual)
            {
                order = value.code == constant.code ? 0 : 1
            } else {
                guard let o = Comparison.order(value, constant, scratch) else { return .unknown }
                order = o
            }
            let result: Bool
            switch node.op {
            case .equal: result = order == 0
            case .notEqual: result = order != 0
            case .lessThan: result = order < 0
            case .lessOrEqual: result = order <= 0
            case .greaterThan: result = order > 0
            default: result = order >= 0
            }
            return result ? .truthy : .falsy
        case .isIn, .isNotIn:
            let value = try scratch.fetch(node.slot)
            if value.isMissing { return .unknown }
            var found = false
            for index in Int(node.start)..<Int(node.start + node.count) {
                let member = members[index]
                if member.tag == value.tag ? member.same(value) : Comparison.equal(value, member, scratch) {
                    found = true
                    break
                }
            }
            return found == (node.op == .isIn) ? .truthy : .falsy
        case .and:
            var result = Truth.truthy
            for index in Int(node.start)..<Int(node.start + node.count) {
                switch try evaluate(children[index], scratch) {
                case .falsy: return .falsy
                case .unknown: result = .unknown
                case .truthy: break
                }
            }
            return result
        case .or:
            var result = Truth.falsy
            for index in Int(node.start)..<Int(node.start + node.count) {
                switch try evaluate(children[index], scratch) {
                case .truthy: return .truthy
                case .unknown: result = .unknown
                case .falsy: break
                }
            }
            return result
        case .xor:
            var parity = false
            for index in Int(node.start)..<Int(node.start + node.count) {
                switch try evaluate(children[index], scratch) {
                case .unknown: return .unknown
                case .truthy: parity.toggle()
                case .falsy: break
                }
            }
            return parity ? .truthy : .falsy
        case .surrogate:
            for index in Int(node.start)..<Int(node.start + node.count) {
                let truth = try evaluate(children[index], scratch)
                if truth != .unknown { return truth }
            }
            return .unknown
        }
    }
}

/// Reads PMML `Array` / `REAL-Array` / `INT-Array` content: white-space separated, strings may be quoted.
enum ArrayParser {
    static func strings(_ element: XMLElement) throws(PMMLError) -> [String] {
        var result: [String] = []
        var current = ""
        var inQuotes = false
        var escaped = false
        var hasToken = false
        for character in element.text {
            if escaped {
                current.append(character)
                escaped = false
            } else if inQuotes {
                if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inQuotes = false
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                inQuotes = true
                hasToken = true
            } else if character == " " || character == "\t" || character == "\n" || character == "\r" {
                if hasToken {
                    result.append(current)
                    current = ""
                    hasToken = false
                }
            } else {
                current.append(character)
                hasToken = true
            }
        }
        if inQuotes { throw PMMLError("unterminated quoted string in Array", element: element.name) }
        if hasToken { result.append(current) }
        if let n = try element.int("n"), n != result.count {
            throw PMMLError("Array declares n=\(n) but holds \(result.count) values", element: element.name)
        }
        return result
    }

    static func numbers(_ element: XMLElement) throws(PMMLError) -> [Double] {
        var result: [Double] = []
        for text in try strings(element) {
            guard let value = parseDouble(text) else {
                throw PMMLError("'\(text)' in a numeric Array is not a number", element: element.name)
            }
            result.append(value)
        }
        return result
    }
}

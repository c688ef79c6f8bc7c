// RegressionModel: each RegressionTable becomes flat arrays of (slot, exponent, coefficient) numeric
// terms, (slot, value, coefficient) categorical terms and product terms; classification applies the
// model's normalizationMethod across tables. Any missing predictor makes the prediction missing, as
// JPMML does.

#if canImport(Glibc)
    import Glibc
#endif

struct LinearTable {
    var intercept = 0.0
    var numericSlots: [Int32] = []
    var numericExponents: [Double] = []
    var numericCoefficients: [Double] = []
    var categoricalSlots: [Int32] = []
    var categoricalValues: [V] = []
    var categoricalCoefficients: [Double] = []
    /// Product terms: slots in `termSlots[termStart[i]..<termStart[i+1]]`.
    var termStart: [Int32] = [0]
    var termSlots: [Int32] = []
    var termCoefficients: [Double] = []

    /// The linear predictor, or nil when an input it needs is missing.
    func evaluate(_ scratch: Scratch) throws(PMMLError) -> Double? {
        var sum = intercept
        for index in numericSlots.indices {
            let value = try scratch.fetch(numericSlots[index])
            guard let x = value.tag == .number ? value.num : scratch.number(of: value) else { return nil }
            let exponent = numericExponents[index]
            sum += numericCoefficients[index] * (exponent == 1 ? x : Glibc.pow(x, exponent))
        }
        for index in categoricalSlots.indices {
            let value = try scratch.fetch(categoricalSlots[index])
            if value.isMissing { return nil }
            let wanted = categoricalValues[index]
            if value.tag == wanted.tag ? value.same(wanted) : Comparison.equal(value, wanted, scratch) {
                sum += categoricalCoefficients[index]
            }
        }
        for term in termCoefficients.indices {
            var product = termCoefficients[term]
            for slotIndex in Int(termStart[term])..<Int(termStart[term + 1]) {
                guard let x = scratch.number(of: try scratch.fetch(termSlots[slotIndex])) else { return nil }
                product *= x
            }
            sum += product
        }
        return sum
    }
}

enum Normalization: String {
    case none, simplemax, softmax, logit, probit, cloglog, exp, loglog, cauchit
}

/// Inverse link functions shared by RegressionModel and GeneralRegressionModel.
enum Links {
    static func apply(_ method: Normalization, _ y: Double) -> Double {
        switch method {
        case .none, .simplemax, .softmax: return y
        case .logit: return 1 / (1 + Glibc.exp(-y))
        case .probit: return 0.5 * Glibc.erfc(-y / 2.0.squareRoot())
        case .cloglog: return 1 - Glibc.exp(-Glibc.exp(y))
        case .exp: return Glibc.exp(y)
        case .loglog: return Glibc.exp(-Glibc.exp(-y))
        case .cauchit: return 0.5 + Glibc.atan(y) / Double.pi
        }
    }
}

final class RegressionModelNode: ModelNode {
    var tables: [LinearTable] = []
    /// Category index of each table (classification).
    var tableCategory: [Int] = []
    var normalization = Normalization.none

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = RegressionModelNode(element: "RegressionModel", function: context.function)
        guard node.function != .clustering else {
            throw PMMLError("a RegressionModel cannot do clustering", element: "RegressionModel")
        }
        let tableElements = element.children("RegressionTable")
        guard !tableElements.isEmpty else {
            throw PMMLError("RegressionModel without a RegressionTable", element: "RegressionModel")
        }
        let labels = tableElements.compactMap { $0.attribute("targetCategory") }
        try context.setUp(node, modelLabels: labels)
        let method = element.attribute("normalizationMethod") ?? "none"
        guard let normalization = Normalization(rawValue: method) else {
            throw .unsupported("RegressionModel", attribute: "normalizationMethod", value: method)
        }
        node.normalization = normalization
        // Built locally and assigned whole: properties only ever replaced need no exclusivity checks
        // when scoring reads them.
        var tables: [LinearTable] = []
        var tableCategory: [Int] = []
        for table in tableElements {
            tables.append(try compileTable(table, context.scope, context.compiler))
            if node.function == .classification {
                guard let label = table.attribute("targetCategory") else {
                    throw PMMLError("a classification RegressionTable lacks targetCategory", element: "RegressionTable")
                }
                tableCategory.append(try context.categoryIndex(node, label))
            }
        }
        node.tables = tables
        node.tableCategory = tableCategory
        if node.function == .regression && node.tables.count != 1 {
            throw PMMLError(
                "a regression RegressionModel must have exactly one RegressionTable",
                element: "RegressionModel")
        }
        return node
    }

    static func compileTable(_ element: XMLElement, _ scope: Scope, _ compiler: Compiler) throws(PMMLError)
        -> LinearTable
    {
        var table = LinearTable()
        table.intercept = try element.requiredDouble("intercept")
        for child in element.children {
            switch child.name {
            case "NumericPredictor":
                table.numericSlots.append(try scope.lookup(try child.required("name")).slot)
                table.numericExponents.append(try child.double("exponent", default: 1))
                table.numericCoefficients.append(try child.requiredDouble("coefficient"))
            case "CategoricalPredictor":
                let field = try scope.lookup(try child.required("name"))
                table.categoricalSlots.append(field.slot)
                table.categoricalValues.append(try compiler.literal(try child.required("value"), field.dataType))
                table.categoricalCoefficients.append(try child.requiredDouble("coefficient"))
            case "PredictorTerm":
                for reference in child.children("FieldRef") {
                    table.termSlots.append(try scope.lookup(try reference.required("field")).slot)
                }
                table.termStart.append(Int32(table.termSlots.count))
                table.termCoefficients.append(try child.requiredDouble("coefficient"))
            case "Extension": continue
            default: throw .unsupported(child.name)
            }
        }
        return table
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let result = scratch.results + resultIndex
        if function == .regression {
            guard var y = try evaluate(table: 0, scratch) else {
                setMissing(scratch)
                return
            }
            if normalization == .softmax { y = Links.apply(.logit, y) } else { y = Links.apply(normalization, y) }
            if floatContext { y = Double(Float(y)) }
            result.pointee = ModelResult(value: .number(y))
            return
        }
        let base = probabilityBase
        for category in 0..<categories.count { scratch.doubles[base + category] = 0 }
        var values = (0.0, 0.0)
        let k = tables.count
        for index in 0..<k {
            guard let y = try evaluate(table: index, scratch) else {
                setMissing(scratch)
                return
            }
            scratch.doubles[base + tableCategory[index]] = y
            if index == 0 { values.0 = y }
        }
        normalize(scratch, k: k, first: values.0)
        finishClassification(scratch)
    }

    /// Evaluates a table in place: `tables[index].evaluate` would copy the struct and retain its arrays.
    @inline(__always)
    private func evaluate(table index: Int, _ scratch: Scratch) throws(PMMLError) -> Double? {
        try tables.withUnsafeBufferPointer { (tables) throws(PMMLError) -> Double? in
            try tables[index].evaluate(scratch)
        }
    }

    private func normalize(_ scratch: Scratch, k: Int, first: Double) {
        let p = scratch.doubles + probabilityBase
        switch normalization {
        case .softmax:
            var maximum = -Double.infinity
            for index in 0..<k { maximum = Swift.max(maximum, p[tableCategory[index]]) }
            var sum = 0.0
            for index in 0..<k {
                let e = Glibc.exp(p[tableCategory[index]] - maximum)
                p[tableCategory[index]] = e
                sum += e
            }
            for index in 0..<k { p[tableCategory[index]] /= sum }
        case .simplemax:
            var sum = 0.0
            for index in 0..<k { sum += p[tableCategory[index]] }
            for index in 0..<k { p[tableCategory[index]] /= sum }
        case .none:
            // The last category takes what the others leave, as JPMML does for binary models.
            if k == 2 {
                p[tableCategory[1]] = 1 - p[tableCategory[0]]
            }
        default:
            if k == 2 {
                let probability = Links.apply(normalization, first)
                p[tableCategory[0]] = probability
                p[tableCategory[1]] = 1 - probability
            } else {
                var sum = 0.0
                for index in 0..<(k - 1) {
                    let value = Links.apply(normalization, p[tableCategory[index]])
                    p[tableCategory[index]] = value
                    sum += value
                }
                p[tableCategory[k - 1]] = 1 - sum
            }
        }
    }
}

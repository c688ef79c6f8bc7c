// Scorecard: each Characteristic's Attributes are tried in order and the first true one contributes
// its partialScore (or ComplexPartialScore expression). Reason codes are the characteristics' point
// differences to their baseline (pointsBelow or pointsAbove), summed per code and ranked descending;
// ties keep document order.

final class ScorecardNode: ModelNode {
    struct Attribute {
        var predicate: Int32
        var score: Double
        var expression: Expr?
        var reason: Int
    }

    let predicates = PredicateProgram()
    var characteristics: [[Attribute]] = []
    var characteristicNames: [String] = []
    var baselines: [Double] = []
    var reasonCodes: [Int32] = []
    var initialScore = 0.0
    var useReasonCodes = true
    var pointsAbove = false

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = ScorecardNode(element: "Scorecard", function: context.function)
        guard node.function == .regression else {
            throw .unsupported("Scorecard", attribute: "functionName", value: node.function.rawValue)
        }
        try context.setUp(node)
        node.initialScore = try element.double("initialScore", default: 0)
        node.useReasonCodes = element.attribute("useReasonCodes") != "false"
        let algorithm = element.attribute("reasonCodeAlgorithm") ?? "pointsBelow"
        guard algorithm == "pointsBelow" || algorithm == "pointsAbove" else {
            throw .unsupported("Scorecard", attribute: "reasonCodeAlgorithm", value: algorithm)
        }
        node.pointsAbove = algorithm == "pointsAbove"
        let modelBaseline = try element.double("baselineScore")
        var codeIndex: [String: Int] = [:]
        func reason(_ text: String?) -> Int {
            guard let text else { return -1 }
            if let index = codeIndex[text] { return index }
            codeIndex[text] = node.reasonCodes.count
            node.reasonCodes.append(context.compiler.table.intern(text))
            return node.reasonCodes.count - 1
        }
        for characteristic in element.child("Characteristics")?.children("Characteristic") ?? [] {
            let name = characteristic.attribute("name") ?? "#\(node.characteristics.count + 1)"
            let characteristicReason = characteristic.attribute("reasonCode")
            var attributes: [Attribute] = []
            for attribute in characteristic.children("Attribute") {
                var expression: Expr?
                if let complex = attribute.child("ComplexPartialScore"),
                    let body = complex.children.first(where: { ExpressionCompiler.expressionElements.contains($0.name) }
                    )
                {
                    expression = try ExpressionCompiler(compiler: context.compiler, scope: context.scope).compile(body)
                        .expr
                }
                let score = try attribute.double("partialScore")
                guard score != nil || expression != nil else {
                    throw PMMLError("Attribute of characteristic '\(name)' has no partialScore", element: "Attribute")
                }
                let code = attribute.attribute("reasonCode") ?? characteristicReason
                if node.useReasonCodes && code == nil {
                    throw PMMLError("characteristic '\(name)' has no reasonCode", element: "Characteristic")
                }
                attributes.append(
                    Attribute(
                        predicate: try node.predicates.compile(childOf: attribute, context.scope),
                        score: score ?? 0, expression: expression, reason: reason(code)))
            }
            let baseline = try characteristic.double("baselineScore") ?? modelBaseline
            if node.useReasonCodes && baseline == nil {
                throw PMMLError("characteristic '\(name)' has no baselineScore", element: "Characteristic")
            }
            node.baselines.append(baseline ?? 0)
            node.characteristics.append(attributes)
            node.characteristicNames.append(name)
        }
        if node.useReasonCodes {
            node.reasonCount = node.reasonCodes.count
            node.reasonBase = context.compiler.allocateDoubles(node.reasonCount)
        }
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        var total = initialScore
        var points = [Double](repeating: 0, count: reasonCodes.count)
        for (index, attributes) in characteristics.enumerated() {
            var matched = false
            for attribute in attributes where try predicates.evaluate(attribute.predicate, scratch) == .truthy {
                var score = attribute.score
                if let expression = attribute.expression {
                    guard let value = scratch.number(of: try expression(scratch)) else { return setMissing(scratch) }
                    score = value
                }
                total += score
                if attribute.reason >= 0 {
                    points[attribute.reason] += pointsAbove ? score - baselines[index] : baselines[index] - score
                }
                matched = true
                break
            }
            if !matched {
                throw PMMLError(
                    "no Attribute of characteristic '\(characteristicNames[index])' matches the row",
                    element: "Characteristic")
            }
        }
        scratch.results[resultIndex] = ModelResult(value: .number(total))
        guard useReasonCodes else { return }
        let order = points.indices.sorted { points[$0] > points[$1] || (points[$0] == points[$1] && $0 < $1) }
        for (rank, index) in order.enumerated() { scratch.doubles[reasonBase + rank] = Double(reasonCodes[index]) }
    }
}

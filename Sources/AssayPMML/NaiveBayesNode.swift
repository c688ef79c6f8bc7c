// NaiveBayesModel: per input, a table of per-category counts for each known value (categorical) or a
// per-category Gaussian/Poisson distribution (continuous). Missing inputs and values the model never
// saw are left out of the product; zero likelihoods are replaced by the model's threshold, as PMML says.

#if canImport(Glibc)
    import Glibc
#endif

final class NaiveBayesNode: ModelNode {
    enum Distribution {
        case gaussian(mean: Double, variance: Double)
        case poisson(mean: Double)
    }

    struct Input {
        var value: Expr
        /// Categorical: value key → per-category counts; plus per-category totals.
        var counts: [ValueKey: [Double]] = [:]
        var totals: [Double] = []
        /// Continuous: per-category distribution.
        var distributions: [Distribution?] = []
    }

    var inputs: [Input] = []
    var priors: [Double] = []
    var threshold = 0.0

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = NaiveBayesNode(element: "NaiveBayesModel", function: context.function)
        guard node.function == .classification else {
            throw .unsupported("NaiveBayesModel", attribute: "functionName", value: node.function.rawValue)
        }
        guard let output = element.child("BayesOutput"), let priorCounts = output.child("TargetValueCounts") else {
            throw PMMLError("NaiveBayesModel without BayesOutput counts", element: "NaiveBayesModel")
        }
        let labels = priorCounts.children("TargetValueCount").compactMap { $0.attribute("value") }
        try context.setUp(node, modelLabels: labels)
        let k = node.categories.count
        node.threshold = try element.requiredDouble("threshold")
        node.priors = [Double](repeating: 0, count: k)
        for count in priorCounts.children("TargetValueCount") {
            node.priors[try context.categoryIndex(node, try count.required("value"))] = try count.requiredDouble(
                "count")
        }
        for inputElement in element.child("BayesInputs")?.children("BayesInput") ?? [] {
            let name = try inputElement.required("fieldName")
            let field = try context.scope.lookup(name)
            var dataType = field.dataType
            var expr: Expr
            if let derived = inputElement.child("DerivedField"),
                let body = derived.children.first(where: { ExpressionCompiler.expressionElements.contains($0.name) })
            {
                let compiled = try ExpressionCompiler(compiler: context.compiler, scope: context.scope).compile(body)
                dataType = try context.compiler.parseDataType(derived, required: false) ?? compiled.dataType
                expr = Casting.cast(compiled.expr, from: compiled.dataType, to: dataType)
            } else {
                let slot = field.slot
                expr = { (scratch: Scratch) throws(PMMLError) -> V in try scratch.fetch(slot) }
            }
            var input = Input(value: expr)
            if let stats = inputElement.child("TargetValueStats") {
                input.distributions = [Distribution?](repeating: nil, count: k)
                for stat in stats.children("TargetValueStat") {
                    let category = try context.categoryIndex(node, try stat.required("value"))
                    if let gaussian = stat.child("GaussianDistribution") {
                        input.distributions[category] = .gaussian(
                            mean: try gaussian.requiredDouble("mean"),
                            variance: try gaussian.requiredDouble("variance"))
                    } else if let poisson = stat.child("PoissonDistribution") {
                        input.distributions[category] = .poisson(mean: try poisson.requiredDouble("mean"))
                    } else if let other = stat.children.first(where: { $0.name != "Extension" }) {
                        throw .unsupported(other.name)
                    }
                }
            } else {
                input.totals = [Double](repeating: 0, count: k)
                for pair in inputElement.children("PairCounts") {
                    let key = ValueKey(try context.compiler.literal(try pair.required("value"), dataType ?? .string))
                    var row = [Double](repeating: 0, count: k)
                    for count in pair.child("TargetValueCounts")?.children("TargetValueCount") ?? [] {
                        let category = try context.categoryIndex(node, try count.required("value"))
                        row[category] += try count.requiredDouble("count")
                    }
                    for category in 0..<k { input.totals[category] += row[category] }
                    input.counts[key] = row
                }
            }
            node.inputs.append(input)
        }
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let p = scratch.doubles + probabilityBase
        let k = categories.count
        for category in 0..<k { p[category] = priors[category] }
        for input in inputs {
            let value = try input.value(scratch)
            if value.isMissing { continue }
            if !input.distributions.isEmpty {
                guard let x = scratch.number(of: value) else { continue }
                for category in 0..<k {
                    guard let distribution = input.distributions[category] else { continue }
                    var likelihood: Double
                    switch distribution {
                    case .gaussian(let mean, let variance):
                        let d = x - mean
                        likelihood = Glibc.exp(-d * d / (2 * variance)) / (2 * Double.pi * variance).squareRoot()
                    case .poisson(let mean):
                        likelihood = Glibc.exp(x * Glibc.log(mean) - mean - Glibc.lgamma(x + 1))
                    }
                    p[category] *= likelihood == 0 ? threshold : likelihood
                }
            } else {
                var key = ValueKey(value)
                if input.counts[key] == nil, value.tag == .string, let number = scratch.number(of: value) {
                    key = ValueKey(.number(number))
                }
                guard let row = input.counts[key] else { continue }
                for category in 0..<k {
                    let likelihood = input.totals[category] > 0 ? row[category] / input.totals[category] : 0
                    p[category] *= likelihood == 0 ? threshold : likelihood
                }
            }
        }
        var sum = 0.0
        for category in 0..<k { sum += p[category] }
        guard sum > 0 else { return setMissing(scratch) }
        for category in 0..<k { p[category] /= sum }
        finishClassification(scratch)
    }
}

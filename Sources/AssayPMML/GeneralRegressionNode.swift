// GeneralRegressionModel: the PPMatrix becomes, per parameter, a product of factor indicators and
// covariate powers over slots; the ParamMatrix becomes a beta vector per target category. Supports the
// regression, generalLinear, generalizedLinear (all link functions), multinomialLogistic and
// ordinalMultinomial model types. CoxRegression and contrast matrices are refused.

#if canImport(Glibc)
    import Glibc
#endif

final class GeneralRegressionNode: ModelNode {
    enum Kind: String {
        case regression, generalLinear, generalizedLinear, multinomialLogistic, ordinalMultinomial
    }

    struct Cell {
        var slot: Int32
        var factor: V?
        var exponent: Double
    }

    var kind = Kind.regression
    var parameterCells: [[Cell]] = []
    /// Betas per equation: one equation (regression kinds) or one per category (multinomial).
    var betas: [[Double]] = []
    /// Category index of each equation (multinomial), or the ordinal intercepts per category.
    var equationCategory: [Int] = []
    var ordinalIntercepts: [Double] = []
    var link = "identity"
    var linkParameter = 1.0
    var distributionParameter = 0.0
    var offsetSlot: Int32 = -1
    var offsetValue = 0.0
    var trialsSlot: Int32 = -1
    var trialsValue = 1.0
    /// generalizedLinear classification: the category that receives mu (the other gets 1 - mu).
    var successCategory = 1

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let typeName = try element.required("modelType")
        guard let kind = Kind(rawValue: typeName) else {
            throw PMMLError(
                "unsupported GeneralRegressionModel modelType '\(typeName)'", element: "GeneralRegressionModel")
        }
        let node = GeneralRegressionNode(element: "GeneralRegressionModel", function: context.function)
        node.kind = kind
        let cells = element.child("ParamMatrix")?.children("PCell") ?? []
        var labels: [String] = []
        for cell in cells {
            if let label = cell.attribute("targetCategory"), !labels.contains(label) { labels.append(label) }
        }
        if let reference = element.attribute("targetReferenceCategory"), !labels.contains(reference) {
            labels.append(reference)
        }
        try context.setUp(node, modelLabels: labels)
        let scope = context.scope
        let compiler = context.compiler
        var factors: Set<String> = []
        for list in ["FactorList", "CovariateList"] {
            for predictor in element.child(list)?.children("Predictor") ?? [] {
                if predictor.attribute("contrastMatrixType") != nil || predictor.child("Matrix") != nil {
                    throw PMMLError(
                        "unsupported GeneralRegressionModel contrast matrix on predictor '"
                            + (predictor.attribute("name") ?? "?") + "'", element: "GeneralRegressionModel")
                }
                if list == "FactorList" { factors.insert(try predictor.required("name")) }
            }
        }
        var parameterIndex: [String: Int] = [:]
        for parameter in element.child("ParameterList")?.children("Parameter") ?? [] {
            parameterIndex[try parameter.required("name")] = node.parameterCells.count
            node.parameterCells.append([])
        }
        for cell in element.child("PPMatrix")?.children("PPCell") ?? [] {
            let parameter = try cell.required("parameterName")
            guard let index = parameterIndex[parameter] else {
                throw PMMLError("PPCell refers to unknown parameter '\(parameter)'", element: "PPCell")
            }
            if let target = cell.attribute("targetCategory"), !target.isEmpty {
                throw PMMLError("PPCell with targetCategory is not supported", element: "PPCell")
            }
            let predictor = try cell.required("predictorName")
            let field = try scope.lookup(predictor)
            let value = try cell.required("value")
            if factors.contains(predictor) {
                node.parameterCells[index].append(
                    Cell(
                        slot: field.slot, factor: try compiler.literal(value, field.dataType),
                        exponent: 1))
            } else {
                guard let exponent = parseDouble(value) else {
                    throw PMMLError(
                        "PPCell value '\(value)' of covariate '\(predictor)' is not a number", element: "PPCell")
                }
                node.parameterCells[index].append(Cell(slot: field.slot, factor: nil, exponent: exponent))
            }
        }
        let count = node.parameterCells.count
        func betaRow() -> [Double] { [Double](repeating: 0, count: count) }
        switch kind {
        case .multinomialLogistic:
            guard node.function == .classification else {
                throw PMMLError(
                    "multinomialLogistic needs classification",
                    element: "GeneralRegressionModel")
            }
            node.betas = node.categories.map { _ in betaRow() }
            node.equationCategory = Array(node.categories.indices)
            for cell in cells {
                let category = try context.categoryIndex(node, try cell.required("targetCategory"))
                let parameter = try cell.required("parameterName")
                guard let index = parameterIndex[parameter] else {
                    throw PMMLError("PCell refers to unknown parameter '\(parameter)'", element: "PCell")
                }
                node.betas[category][index] = try cell.requiredDouble("beta")
            }
        case .ordinalMultinomial:
            node.betas = [betaRow()]
            node.ordinalIntercepts = [Double](repeating: .infinity, count: node.categories.count)
            for cell in cells {
                let parameter = try cell.required("parameterName")
                guard let index = parameterIndex[parameter] else {
                    throw PMMLError("PCell refers to unknown parameter '\(parameter)'", element: "PCell")
                }
                if let label = cell.attribute("targetCategory") {
                    node.ordinalIntercepts[try context.categoryIndex(node, label)] = try cell.requiredDouble("beta")
                } else {
                    node.betas[0][index] = try cell.requiredDouble("beta")
                }
            }
            node.link = element.attribute("cumulativeLink") ?? "logit"
        default:
            node.betas = [betaRow()]
            for cell in cells {
                let parameter = try cell.required("parameterName")
                guard let index = parameterIndex[parameter] else {
                    throw PMMLError("PCell refers to unknown parameter '\(parameter)'", element: "PCell")
                }
                node.betas[0][index] = try cell.requiredDouble("beta")
            }
            if kind == .generalizedLinear {
                node.link = try element.required("linkFunction")
                node.linkParameter = try element.double("linkParameter", default: 1)
                node.distributionParameter = try element.double("distParameter", default: 0)
            }
            if node.function == .classification {
                guard node.categories.count == 2 else {
                    throw PMMLError(
                        "a \(typeName) classification model needs a binary target",
                        element: "GeneralRegressionModel")
                }
                if let label = cells.compactMap({ $0.attribute("targetCategory") }).first {
                    node.successCategory = try context.categoryIndex(node, label)
                } else if let reference = element.attribute("targetReferenceCategory") {
                    node.successCategory = 1 - (try context.categoryIndex(node, reference))
                }
            }
        }
        let links: Set<String> = [
            "identity", "log", "logit", "probit", "cloglog", "loglog", "cauchit", "power",
            "oddspower", "negbin",
        ]
        guard links.contains(node.link) else {
            throw .unsupported(
                "GeneralRegressionModel", attribute: "linkFunction",
                value: node.link)
        }
        if let name = element.attribute("offsetVariable") { node.offsetSlot = try scope.lookup(name).slot }
        node.offsetValue = try element.double("offsetValue", default: 0)
        if let name = element.attribute("trialsVariable") { node.trialsSlot = try scope.lookup(name).slot }
        node.trialsValue = try element.double("trialsValue", default: 1)
        return node
    }

    /// The linear predictor of one equation; nil when an input is missing.
    private func eta(_ betas: [Double], _ scratch: Scratch) throws(PMMLError) -> Double? {
        var sum = 0.0
        for parameter in parameterCells.indices {
            let beta = betas[parameter]
            if beta == 0 { continue }
            var x = 1.0
            for cell in parameterCells[parameter] {
                let value = try scratch.fetch(cell.slot)
                if value.isMissing { return nil }
                if let factor = cell.factor {
                    if !(value.tag == factor.tag ? value.same(factor) : Comparison.equal(value, factor, scratch)) {
                        x = 0
                    }
                } else {
                    guard let number = scratch.number(of: value) else { return nil }
                    x *= cell.exponent == 1 ? number : Glibc.pow(number, cell.exponent)
                }
            }
            sum += beta * x
        }
        if offsetSlot >= 0 {
            guard let offset = scratch.number(of: try scratch.fetch(offsetSlot)) else { return nil }
            sum += offset
        } else {
            sum += offsetValue
        }
        return sum
    }

    private func inverseLink(_ eta: Double) -> Double {
        switch link {
        case "identity": return eta
        case "log": return Glibc.exp(eta)
        case "logit": return 1 / (1 + Glibc.exp(-eta))
        case "probit": return 0.5 * Glibc.erfc(-eta / 2.0.squareRoot())
        case "cloglog": return 1 - Glibc.exp(-Glibc.exp(eta))
        case "loglog": return Glibc.exp(-Glibc.exp(-eta))
        case "cauchit": return 0.5 + Glibc.atan(eta) / Double.pi
        case "power": return linkParameter == 0 ? Glibc.exp(eta) : Glibc.pow(eta, 1 / linkParameter)
        case "oddspower":
            if linkParameter == 0 { return 1 / (1 + Glibc.exp(-eta)) }
            let t = Glibc.pow(1 + linkParameter * eta, 1 / linkParameter)
            return t / (1 + t)
        default: return 1 / (distributionParameter * (Glibc.exp(-eta) - 1))
        }
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let p = scratch.doubles + probabilityBase
        switch kind {
        case .multinomialLogistic:
            var etas = [Double](repeating: 0, count: categories.count)
            for category in categories.indices {
                guard let value = try eta(betas[category], scratch) else { return setMissing(scratch) }
                etas[category] = value
            }
            let maximum = etas.max() ?? 0
            var sum = 0.0
            for category in categories.indices { p[category] = Glibc.exp(etas[category] - maximum); sum += p[category] }
            for category in categories.indices { p[category] /= sum }
            finishClassification(scratch)
        case .ordinalMultinomial:
            guard let shared = try eta(betas[0], scratch) else { return setMissing(scratch) }
            var previous = 0.0
            for category in categories.indices {
                let threshold = ordinalIntercepts[category]
                let cumulative =
                    threshold.isInfinite || category == categories.count - 1
                    ? 1
                    : Links.apply(Normalization(rawValue: link) ?? .logit, threshold + shared)
                p[category] = cumulative - previous
                previous = cumulative
            }
            finishClassification(scratch)
        default:
            guard let value = try eta(betas[0], scratch) else { return setMissing(scratch) }
            var mu = kind == .generalizedLinear ? inverseLink(value) : value
            if kind == .generalizedLinear && function == .regression {
                if trialsSlot >= 0 {
                    guard let trials = scratch.number(of: try scratch.fetch(trialsSlot)) else {
                        return setMissing(scratch)
                    }
                    mu *= trials
                } else {
                    mu *= trialsValue
                }
            }
            if function == .regression {
                scratch.results[resultIndex] = ModelResult(value: .number(mu))
            } else {
                p[successCategory] = mu
                p[1 - successCategory] = 1 - mu
                finishClassification(scratch)
            }
        }
    }
}

// RuleSetModel: compound rules are flattened, so every simple rule carries the list of predicates
// (its ancestors' and its own) that must all be true. The first RuleSelectionMethod decides:
// firstHit, weightedSum or weightedMax. With no rule firing, defaultScore/defaultConfidence apply.

final class RuleSetNode: ModelNode {
    enum Criterion: String { case firstHit, weightedSum, weightedMax }

    let predicates = PredicateProgram()
    var rulePredicates: [[Int32]] = []
    var ruleCategory: [Int] = []
    var ruleWeight: [Double] = []
    var ruleConfidence: [Double] = []
    var criterion = Criterion.firstHit
    var defaultCategory = -1
    var defaultConfidence = Double.nan

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = RuleSetNode(element: "RuleSetModel", function: context.function)
        guard node.function == .classification else {
            throw .unsupported("RuleSetModel", attribute: "functionName", value: node.function.rawValue)
        }
        guard let ruleSet = element.child("RuleSet") else {
            throw PMMLError("RuleSetModel without a RuleSet", element: "RuleSetModel")
        }
        var labels: [String] = []
        func collect(_ parent: XMLElement) {
            for child in parent.children {
                if child.name == "SimpleRule", let score = child.attribute("score"), !labels.contains(score) {
                    labels.append(score)
                }
                if child.name == "CompoundRule" { collect(child) }
            }
        }
        collect(ruleSet)
        if let score = ruleSet.attribute("defaultScore"), !labels.contains(score) { labels.append(score) }
        try context.setUp(node, modelLabels: labels)
        guard let method = ruleSet.child("RuleSelectionMethod") else {
            throw PMMLError("RuleSet without a RuleSelectionMethod", element: "RuleSet")
        }
        let name = try method.required("criterion")
        guard let criterion = Criterion(rawValue: name) else {
            throw .unsupported("RuleSelectionMethod", attribute: "criterion", value: name)
        }
        node.criterion = criterion
        if let score = ruleSet.attribute("defaultScore") {
            node.defaultCategory = try context.categoryIndex(node, score)
        }
        node.defaultConfidence = try ruleSet.double("defaultConfidence") ?? .nan
        func compileRules(_ parent: XMLElement, _ inherited: [Int32]) throws(PMMLError) {
            for child in parent.children {
                switch child.name {
                case "SimpleRule":
                    let own = try node.predicates.compile(childOf: child, context.scope)
                    node.rulePredicates.append(inherited + [own])
                    node.ruleCategory.append(try context.categoryIndex(node, try child.required("score")))
                    node.ruleWeight.append(try child.double("weight", default: 1))
                    node.ruleConfidence.append(try child.double("confidence", default: 1))
                    let id = child.attribute("id") ?? String(node.entityIds.count + 1)
                    node.entityIds.append(.string(context.compiler.table.intern(id)))
                case "CompoundRule":
                    let own = try node.predicates.compile(childOf: child, context.scope)
                    try compileRules(child, inherited + [own])
                default: continue
                }
            }
        }
        try compileRules(ruleSet, [])
        return node
    }

    private func fires(_ rule: Int, _ scratch: Scratch) throws(PMMLError) -> Bool {
        for predicate in rulePredicates[rule] where try predicates.evaluate(predicate, scratch) != .truthy {
            return false
        }
        return true
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        var chosen = -1
        var confidence = Double.nan
        switch criterion {
        case .firstHit:
            for rule in rulePredicates.indices where try fires(rule, scratch) {
                chosen = rule
                confidence = ruleConfidence[rule]
                break
            }
        case .weightedMax:
            for rule in rulePredicates.indices where try fires(rule, scratch) {
                if chosen < 0 || ruleWeight[rule] > ruleWeight[chosen] { chosen = rule }
            }
            if chosen >= 0 { confidence = ruleConfidence[chosen] }
        case .weightedSum:
            let p = scratch.doubles + probabilityBase
            for category in categories.indices { p[category] = 0 }
            var fired = 0
            for rule in rulePredicates.indices where try fires(rule, scratch) {
                p[ruleCategory[rule]] += ruleWeight[rule]
                fired += 1
            }
            if fired > 0 {
                finishClassification(scratch)
                let result = scratch.results + resultIndex
                result.pointee.hasProbabilities = false
                result.pointee.confidence = p[Int(result.pointee.category)] / Double(fired)
                return
            }
        }
        let result = scratch.results + resultIndex
        if chosen >= 0 {
            let category = ruleCategory[chosen]
            result.pointee = ModelResult(
                value: categories[category], category: Int32(category), entity: Int32(chosen),
                confidence: confidence)
        } else if defaultCategory >= 0 {
            result.pointee = ModelResult(
                value: categories[defaultCategory], category: Int32(defaultCategory),
                confidence: defaultConfidence)
        } else {
            setMissing(scratch)
        }
    }
}

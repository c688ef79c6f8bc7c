// TreeModel: nodes are flattened into parallel arrays (children contiguous), predicates into a
// `PredicateProgram`, and class distributions into one probability table, so scoring walks integers.
// All missingValueStrategy values are handled; weightedConfidence and aggregateNodes share one
// record-count weighted aggregation of the leaves reachable through unknown predicates. Scoring first
// walks the immutable `TreePlan` with inline numeric tests; a row that meets a missing or non-numeric value
// or a complex predicate is walked again by the general code below.
// TODO: missingValuePenalty is ignored (it only scales confidences, which are not exported).

final class TreeModelNode: ModelNode {
    enum MissingStrategy: String {
        case none, lastPrediction, nullPrediction, defaultChild, weightedConfidence, aggregateNodes
    }

    let predicates = PredicateProgram()
    var predicate: [Int32] = []
    var firstChild: [Int32] = []
    var childCount: [Int32] = []
    var defaultChild: [Int32] = []
    var score: [V] = []
    var scoreCategory: [Int32] = []
    var recordCount: [Double] = []
    /// K probabilities per node (classification), or empty.
    var distribution: [Double] = []
    var hasDistribution: [Bool] = []
    var strategy = MissingStrategy.none
    var returnLastPrediction = false
    /// The scoring tables, built once the nodes are filled in.
    private(set) var plan: TreePlan!

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = TreeModelNode(element: "TreeModel", function: context.function)
        guard node.function != .clustering else {
            throw PMMLError("a TreeModel cannot do clustering", element: "TreeModel")
        }
        guard let root = element.child("Node") else {
            throw PMMLError("TreeModel without a Node", element: "TreeModel")
        }
        var labels: [String] = []
        if context.function == .classification && (context.targetField?.validValues ?? []).isEmpty {
            collectLabels(root, &labels)
        }
        try context.setUp(node, modelLabels: labels)
        let strategyName = element.attribute("missingValueStrategy") ?? "none"
        guard let strategy = MissingStrategy(rawValue: strategyName) else {
            throw .unsupported("TreeModel", attribute: "missingValueStrategy", value: strategyName)
        }
        node.strategy = strategy
        let noTrueChild = element.attribute("noTrueChildStrategy") ?? "returnNullPrediction"
        guard noTrueChild == "returnNullPrediction" || noTrueChild == "returnLastPrediction" else {
            throw .unsupported("TreeModel", attribute: "noTrueChildStrategy", value: noTrueChild)
        }
        node.returnLastPrediction = noTrueChild == "returnLastPrediction"
        node.reserve(1)
        try node.fill(0, root, context)
        node.plan = TreePlan(node)
        return node
    }

    /// The nodes as flat records, child links and inline predicate tests included; `offset` is added to
    /// every node index, so that several trees can share one buffer.
    func flatNodes(offset: Int) -> [FlatNode] {
        var flat: [FlatNode] = []
        flat.reserveCapacity(predicate.count)
        for index in predicate.indices {
            let (test, slot, threshold) = predicates.flatTest(predicate[index])
            flat.append(
                FlatNode(
                    threshold: threshold, slot: slot, test: test,
                    firstChild: firstChild[index] < 0 ? -1 : firstChild[index] + Int32(offset),
                    childCount: childCount[index]))
        }
        return flat
    }

    private static func collectLabels(_ element: XMLElement, _ labels: inout [String]) {
        if let score = element.attribute("score"), !labels.contains(score) { labels.append(score) }
        for distribution in element.children("ScoreDistribution") {
            if let value = distribution.attribute("value"), !labels.contains(value) { labels.append(value) }
        }
        for child in element.children("Node") { collectLabels(child, &labels) }
    }

    private func reserve(_ count: Int) {
        for _ in 0..<count {
            predicate.append(0)
            firstChild.append(-1)
            childCount.append(0)
            defaultChild.append(-1)
            score.append(.missing)
            scoreCategory.append(-1)
            recordCount.append(0)
            hasDistribution.append(false)
            entityIds.append(.missing)
            distribution.append(contentsOf: repeatElement(0, count: categories.count))
        }
    }

    private func fill(_ index: Int, _ element: XMLElement, _ context: ModelContext) throws(PMMLError) {
        let compiler = context.compiler
        for child in element.children {
            switch child.name {
            case "Node", "ScoreDistribution", "Extension", "Partition": continue
            case "Regression", "DecisionTree": throw .unsupported(child.name)
            default:
                if !PredicateProgram.elements.contains(child.name) { throw .unsupported(child.name) }
            }
        }
        predicate[index] = try predicates.compile(childOf: element, context.scope)
        recordCount[index] = try element.double("recordCount") ?? .nan
        let id = element.attribute("id")
        entityIds[index] = .string(compiler.table.intern(id ?? String(index + 1)))
        if function == .classification {
            let distributions = element.children("ScoreDistribution")
            if !distributions.isEmpty {
                let base = index * categories.count
                var total = 0.0
                var explicit = true
                for item in distributions {
                    let category = try context.categoryIndex(self, try item.required("value"))
                    let count = try item.requiredDouble("recordCount")
                    total += count
                    if let probability = try item.double("probability") {
                        distribution[base + category] = probability
                    } else {
                        explicit = false
                        distribution[base + category] = count
                    }
                }
                if !explicit && total > 0 {
                    for category in 0..<categories.count { distribution[base + category] /= total }
                }
                hasDistribution[index] = true
                if recordCount[index].isNaN { recordCount[index] = total }
            }
            if let label = element.attribute("score") {
                let category = try context.categoryIndex(self, label)
                score[index] = categories[category]
                scoreCategory[index] = Int32(category)
            } else if hasDistribution[index] {
                var best = 0
                let base = index * categories.count
                for category in 0..<categories.count where distribution[base + category] > distribution[base + best] {
                    best = category
                }
                score[index] = categories[best]
                scoreCategory[index] = Int32(best)
            }
        } else if let text = element.attribute("score") {
            guard let number = parseDouble(text) else {
                throw PMMLError("Node score '\(text)' of a regression tree is not a number", element: "Node")
            }
            let isFloat = context.element.attribute("x-mathContext") == "float"
            score[index] = .number(isFloat ? Double(Float(number)) : number)
        }
        let children = element.children("Node")
        guard !children.isEmpty else { return }
        let first = predicate.count
        reserve(children.count)
        firstChild[index] = Int32(first)
        childCount[index] = Int32(children.count)
        let defaultId = element.attribute("defaultChild")
        for (offset, child) in children.enumerated() {
            if let defaultId, child.attribute("id") == defaultId { defaultChild[index] = Int32(first + offset) }
        }
        if strategy == .defaultChild && defaultId != nil && defaultChild[index] < 0 {
            throw PMMLError(
                "Node '\(element.attribute("id") ?? "?")' names defaultChild '\(defaultId!)' "
                    + "which is not one of its children", element: "Node")
        }
        for (offset, child) in children.enumerated() { try fill(first + offset, child, context) }
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let plan = plan!
        let leaf = try plan.flat.walk(root: 0, returnLastPrediction: returnLastPrediction, scratch)
        if leaf >= 0 {
            finish(leaf, plan, scratch)
        } else if leaf == WalkEnd.noPrediction {
            setMissing(scratch)
        } else {
            try predictGeneral(scratch)
        }
    }

    /// The walk with every missing value strategy, for rows the fast walk cannot finish.
    private func predictGeneral(_ scratch: Scratch) throws(PMMLError) {
        let root = try predicates.evaluate(predicate[0], scratch)
        guard root == .truthy else {
            if root == .unknown && (strategy == .aggregateNodes || strategy == .weightedConfidence) {
                try aggregate(from: 0, scratch)
                return
            }
            setMissing(scratch)
            return
        }
        var node = 0
        while true {
            let count = Int(childCount[node])
            if count == 0 { break }
            let first = Int(firstChild[node])
            var selected = -1
            childLoop: for child in first..<(first + count) {
                switch try predicates.evaluate(predicate[child], scratch) {
                case .truthy:
                    selected = child
                    break childLoop
                case .falsy:
                    continue
                case .unknown:
                    switch strategy {
                    case .none: continue
                    case .nullPrediction:
                        setMissing(scratch)
                        return
                    case .lastPrediction:
                        finish(node, scratch)
                        return
                    case .defaultChild:
                        selected = Int(defaultChild[node])
                        if selected < 0 {
                            finish(node, scratch)
                            return
                        }
                        break childLoop
                    case .weightedConfidence, .aggregateNodes:
                        try aggregate(from: node, scratch)
                        return
                    }
                }
            }
            if selected < 0 {
                if returnLastPrediction {
                    break
                }
                setMissing(scratch)
                return
            }
            node = selected
        }
        finish(node, scratch)
    }

    private func finish(_ node: Int, _ scratch: Scratch) {
        finish(node, plan, scratch)
    }

    private func finish(_ node: Int, _ plan: TreePlan, _ scratch: Scratch) {
        let result = scratch.results + resultIndex
        result.pointee.value = plan.score[node]
        result.pointee.category = plan.scoreCategory[node]
        result.pointee.entity = Int32(node)
        result.pointee.confidence = .nan
        if function == .classification {
            let k = categories.count
            let base = node * k
            result.pointee.hasProbabilities = plan.hasDistribution[node]
            if plan.hasDistribution[node] {
                for category in 0..<k {
                    scratch.doubles[probabilityBase + category] = plan.distribution[base + category]
                }
            }
        } else {
            result.pointee.hasProbabilities = false
        }
        if plan.score[node].isMissing && function == .classification && !plan.hasDistribution[node] {
            result.pointee.value = .missing
        }
    }

    /// Record-count weighted mix of every leaf reachable through true or unknown predicates.
    private func aggregate(from start: Int, _ scratch: Scratch) throws(PMMLError) {
        let k = categories.count
        for category in 0..<k { scratch.doubles[probabilityBase + category] = 0 }
        var weightedSum = 0.0
        var totalWeight = 0.0
        var stack: [Int] = [start]
        while let node = stack.popLast() {
            let count = Int(childCount[node])
            var reached = false
            if count > 0 {
                let first = Int(firstChild[node])
                var pending: [Int] = []
                for child in first..<(first + count) {
                    let truth = try predicates.evaluate(predicate[child], scratch)
                    if truth == .falsy { continue }
                    pending.append(child)
                    reached = true
                    if truth == .truthy { break }
                }
                stack.append(contentsOf: pending.reversed())
            }
            if reached { continue }
            let weight = recordCount[node].isNaN ? 1 : recordCount[node]
            totalWeight += weight
            if function == .classification {
                for category in 0..<k {
                    scratch.doubles[probabilityBase + category] += weight * distribution[node * k + category]
                }
            } else if score[node].tag == .number {
                weightedSum += weight * score[node].num
            }
        }
        let result = scratch.results + resultIndex
        result.pointee = ModelResult()
        guard totalWeight > 0 else { return }
        if function == .classification {
            for category in 0..<k { scratch.doubles[probabilityBase + category] /= totalWeight }
            finishClassification(scratch)
        } else {
            result.pointee.value = .number(weightedSum / totalWeight)
        }
    }
}

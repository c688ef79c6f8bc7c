// MiningModel with a Segmentation: segments are compiled into child nodes, their predicates into a
// `PredicateProgram`, and their category indices mapped onto the parent's at load time, so voting and
// averaging are array arithmetic. In a modelChain, each segment's output fields become visible to the
// segments after it. `selectAll` and the classification variants of max/median are refused. Averages and
// sums of plain trees are scored by a `TreeEnsemble`, which shares the combining code below.

final class MiningModelNode: ModelNode {
    enum Method: String {
        case majorityVote, weightedMajorityVote, average, weightedAverage, median, weightedMedian, max, sum
        case weightedSum, selectFirst, modelChain
    }

    let predicates = PredicateProgram()
    var method = Method.sum
    var children: [ModelNode] = []
    var segmentPredicates: [Int32] = []
    var weights: [Double] = []
    /// For each child, child category index → parent category index.
    var categoryMaps: [[Int32]] = []
    var segmentIds: [V] = []
    /// The segments' trees in one flat buffer, when every segment is an unconditional plain tree.
    private(set) var ensemble: TreeEnsemble?

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = MiningModelNode(element: "MiningModel", function: context.function)
        for child in element.children where child.name == "Regression" || child.name == "DecisionTree" {
            throw .unsupported(child.name)
        }
        guard let segmentation = element.child("Segmentation") else {
            throw PMMLError("MiningModel without a Segmentation", element: "MiningModel")
        }
        let methodName = try segmentation.required("multipleModelMethod")
        guard let method = Method(rawValue: methodName) else {
            throw .unsupported("Segmentation", attribute: "multipleModelMethod", value: methodName)
        }
        node.method = method
        if node.function == .classification && (method == .max || method == .median || method == .weightedMedian) {
            // TODO: max/median over class probabilities; refused until implemented like JPMML.
            throw .unsupported("Segmentation", attribute: "multipleModelMethod", value: methodName)
        }
        if node.function == .clustering && !(method == .selectFirst || method == .modelChain) {
            throw .unsupported("Segmentation", attribute: "multipleModelMethod", value: methodName)
        }
        for child in segmentation.children where child.name != "Segment" && child.name != "Extension" {
            throw .unsupported(child.name)
        }
        var labels: [String] = []
        // Segments of a chain predict intermediate fields: they do not inherit this model's target.
        if method == .modelChain { context.compiler.targetStack.append("") }
        defer { if method == .modelChain { context.compiler.targetStack.removeLast() } }
        // The segment tables are built locally and assigned whole: properties that are only ever replaced
        // need no exclusivity checks when scoring reads them.
        var segmentPredicates: [Int32] = []
        var weights: [Double] = []
        var segmentIds: [V] = []
        var children: [ModelNode] = []
        for segment in segmentation.children("Segment") {
            segmentPredicates.append(try node.predicates.compile(childOf: segment, context.scope))
            weights.append(try segment.double("weight", default: 1))
            let id = segment.attribute("id") ?? String(children.count + 1)
            segmentIds.append(.string(context.compiler.table.intern(id)))
            guard
                let modelElement = segment.children.first(where: {
                    Compiler.modelElements.contains($0.name) || Compiler.unsupportedModelElements.contains($0.name)
                })
            else {
                throw PMMLError("Segment '\(id)' contains no model", element: "Segment")
            }
            let child = try context.compiler.compileModel(modelElement, parent: context.scope, isTop: false)
            children.append(child)
            if method == .modelChain {
                for field in child.outputFields { context.scope.fields[field.name] = field }
            }
            for label in child.categoryLabels where !labels.contains(label) { labels.append(label) }
        }
        guard !children.isEmpty else { throw PMMLError("Segmentation without segments", element: "Segmentation") }
        node.segmentPredicates = segmentPredicates
        node.weights = weights
        node.segmentIds = segmentIds
        node.children = children
        try context.setUp(node, modelLabels: labels)
        node.entityIds = node.segmentIds
        node.categoryMaps = children.map { child in child.categories.map { Int32(node.category(of: $0)) } }
        node.ensemble = TreeEnsemble(node, context.compiler)
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let result = scratch.results + resultIndex
        switch method {
        case .selectFirst, .modelChain:
            var chosen = -1
            for index in children.indices where try predicates.evaluate(segmentPredicates[index], scratch) == .truthy {
                try children[index].evaluate(scratch)
                chosen = index
                if method == .selectFirst { break }
            }
            guard chosen >= 0 else {
                setMissing(scratch)
                return
            }
            adopt(chosen, scratch)
        case .majorityVote, .weightedMajorityVote:
            let base = probabilityBase
            for category in 0..<categories.count { scratch.doubles[base + category] = 0 }
            var total = 0.0
            for index in children.indices where try predicates.evaluate(segmentPredicates[index], scratch) == .truthy {
                let child = children[index]
                try child.evaluate(scratch)
                let category = scratch.results[child.resultIndex].category
                guard category >= 0 else { continue }
                let mapped = categoryMaps[index][Int(category)]
                guard mapped >= 0 else { continue }
                let weight = method == .weightedMajorityVote ? weights[index] : 1
                scratch.doubles[base + Int(mapped)] += weight
                total += weight
            }
            guard total > 0 else {
                setMissing(scratch)
                return
            }
            for category in 0..<categories.count { scratch.doubles[base + category] /= total }
            finishClassification(scratch)
            result.pointee.entity = -1
        case .average, .weightedAverage, .sum, .weightedSum, .max, .median, .weightedMedian:
            if let ensemble {
                try ensemble.predict(self, scratch)
            } else if function == .classification {
                try averageProbabilities(scratch)
            } else {
                try combineNumbers(scratch)
            }
        }
    }

    /// Takes a single child's result as this model's (selectFirst, modelChain).
    private func adopt(_ index: Int, _ scratch: Scratch) {
        let child = children[index]
        let childResult = scratch.results[child.resultIndex]
        let result = scratch.results + resultIndex
        result.pointee = childResult
        result.pointee.entity = Int32(index)
        if function == .classification {
            let base = probabilityBase
            for category in 0..<categories.count { scratch.doubles[base + category] = 0 }
            if childResult.category >= 0, Int(childResult.category) < categoryMaps[index].count {
                result.pointee.category = categoryMaps[index][Int(childResult.category)]
            } else {
                result.pointee.category = Int32(category(of: childResult.value))
            }
            if childResult.hasProbabilities {
                for (childCategory, mapped) in categoryMaps[index].enumerated() where mapped >= 0 {
                    scratch.doubles[base + Int(mapped)] = scratch.doubles[child.probabilityBase + childCategory]
                }
            }
        } else if function == .clustering {
            result.pointee.entity = childResult.entity
            entityIds = child.entityIds
        }
    }

    private func averageProbabilities(_ scratch: Scratch) throws(PMMLError) {
        clearProbabilities(scratch)
        var total = 0.0
        for index in children.indices where try predicates.evaluate(segmentPredicates[index], scratch) == .truthy {
            total += try addChildProbabilities(index, scratch)
        }
        finishProbabilities(total: total, scratch)
    }

    func clearProbabilities(_ scratch: Scratch) {
        for category in 0..<categories.count { scratch.doubles[probabilityBase + category] = 0 }
    }

    /// Runs segment `index`'s model and adds its weighted probabilities; returns the weight it counted
    /// with (0 when the segment gave no probabilities).
    func addChildProbabilities(_ index: Int, _ scratch: Scratch) throws(PMMLError) -> Double {
        let base = probabilityBase
        let child = children[index]
        try child.evaluate(scratch)
        let childResult = scratch.results[child.resultIndex]
        guard childResult.hasProbabilities else { return 0 }
        let weight = method == .weightedAverage || method == .weightedSum ? weights[index] : 1
        for (childCategory, mapped) in categoryMaps[index].enumerated() where mapped >= 0 {
            scratch.doubles[base + Int(mapped)] += weight * scratch.doubles[child.probabilityBase + childCategory]
        }
        return weight
    }

    /// Averages (unless summing) the accumulated probabilities and picks the class.
    func finishProbabilities(total: Double, _ scratch: Scratch) {
        guard total > 0 else {
            setMissing(scratch)
            return
        }
        if method != .sum && method != .weightedSum {
            for category in 0..<categories.count { scratch.doubles[probabilityBase + category] /= total }
        }
        finishClassification(scratch)
        scratch.results[resultIndex].entity = -1
    }

    private func combineNumbers(_ scratch: Scratch) throws(PMMLError) {
        var combiner = NumberCombiner(method: method)
        for index in children.indices where try predicates.evaluate(segmentPredicates[index], scratch) == .truthy {
            guard let y = try childNumber(index, scratch) else {
                // A segment without a prediction makes the ensemble's prediction missing, as in JPMML.
                setMissing(scratch)
                return
            }
            combiner.add(y, weight: weights[index])
        }
        finishNumbers(combiner, scratch)
    }

    /// Runs segment `index`'s model and returns its prediction as a number, nil when it has none.
    func childNumber(_ index: Int, _ scratch: Scratch) throws(PMMLError) -> Double? {
        let child = children[index]
        try child.evaluate(scratch)
        let value = scratch.results[child.resultIndex].value
        return value.tag == .number ? value.num : scratch.number(of: value)
    }

    /// Writes the combined prediction (missing when no segment was selected).
    func finishNumbers(_ combiner: NumberCombiner, _ scratch: Scratch) {
        guard let y = combiner.result(floatContext: floatContext) else {
            setMissing(scratch)
            return
        }
        scratch.results[resultIndex] = ModelResult(value: .number(y))
    }
}

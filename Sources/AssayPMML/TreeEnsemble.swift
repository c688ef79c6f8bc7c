// The scoring form of a tree ensemble (random forests, boosted trees): a MiningModel whose segments are
// all unconditional TreeModels without Targets or Output. The trees share one flat node buffer and the
// leaf values sit in plain arrays (class probabilities already in the ensemble's category order), so a
// row walks tree after tree with no dynamic dispatch, no result records and nothing allocated. A tree
// whose walk needs the general path (missing values, complex predicates) is run as its own model, and
// the sums take its result exactly as the unspecialised loop does.

final class TreeEnsemble {
    let flat: FlatNodes
    /// Root node of each tree in `flat`.
    let roots: [Int]
    let returnLastPrediction: [Bool]
    let weights: [Double]
    /// Regression: each node's numeric score, if it has one.
    let scores: [Double]
    let hasScore: [Bool]
    /// Classification: each node's probabilities in the ensemble's category order (K per node), whether
    /// it has any, and for each tree (K per tree) which ensemble categories the tree's classes map onto.
    let categoryCount: Int
    let probabilities: [Double]
    let hasDistribution: [Bool]
    let mapped: [Bool]
    /// How each tree's weight counts for classification: the weight or 1.
    let weighted: Bool
    /// The nodes again, testing a dense row of the fields in `features` (slots), which is gathered into
    /// `scratch.doubles` at `rowBase`; nil when some test is not inline or the tree is too wide.
    let dense: DenseNodes?
    let features: [Int32]
    let rowBase: Int

    /// Nil when the model is not such an ensemble or its combining method has no fast form here.
    init?(_ model: MiningModelNode, _ compiler: Compiler) {
        let regression = model.function == .regression
        switch model.method {
        case .sum, .weightedSum, .average, .weightedAverage: break
        default: return nil
        }
        guard regression || model.function == .classification else { return nil }
        var trees: [TreeModelNode] = []
        for (index, child) in model.children.enumerated() {
            guard let tree = child as? TreeModelNode, tree.targets == nil, tree.outputSlots.isEmpty,
                tree.function == model.function,
                model.predicates.flatTest(model.segmentPredicates[index]).test == .alwaysTrue
            else { return nil }
            trees.append(tree)
        }
        let k = model.categories.count
        var nodes: [FlatNode] = []
        var roots: [Int] = []
        var returnLast: [Bool] = []
        var scores: [Double] = []
        var hasScore: [Bool] = []
        var probabilities: [Double] = []
        var hasDistribution: [Bool] = []
        var mapped: [Bool] = []
        for (index, tree) in trees.enumerated() {
            roots.append(nodes.count)
            returnLast.append(tree.returnLastPrediction)
            nodes.append(contentsOf: tree.flatNodes(offset: nodes.count))
            let map = model.categoryMaps[index]
            var treeMapped = [Bool](repeating: false, count: k)
            for parent in map where parent >= 0 { treeMapped[Int(parent)] = true }
            mapped.append(contentsOf: treeMapped)
            let treeK = tree.categories.count
            for node in tree.score.indices {
                let score = tree.score[node]
                scores.append(score.tag == .number ? score.num : 0)
                hasScore.append(score.tag == .number)
                hasDistribution.append(regression ? false : tree.hasDistribution[node])
                guard !regression else { continue }
                var row = [Double](repeating: 0, count: k)
                for (childCategory, parent) in map.enumerated() where parent >= 0 {
                    row[Int(parent)] = tree.distribution[node * treeK + childCategory]
                }
                probabilities.append(contentsOf: row)
            }
        }
        flat = FlatNodes(nodes)
        var features: [Int32] = []
        var featureIndex: [Int32: Int] = [:]
        var denseNodes: [DenseNode] = []
        for node in nodes {
            guard node.test != .general, node.childCount <= Int32(UInt8.max), features.count < Int(UInt16.max)
            else {
                denseNodes = []
                break
            }
            var feature = 0
            if node.test != .alwaysTrue && node.test != .alwaysFalse {
                if let known = featureIndex[node.slot] {
                    feature = known
                } else {
                    feature = features.count
                    featureIndex[node.slot] = feature
                    features.append(node.slot)
                }
            }
            denseNodes.append(
                DenseNode(
                    threshold: node.threshold, firstChild: node.firstChild,
                    feature: UInt16(feature), test: node.test, childCount: UInt8(node.childCount)))
        }
        // Scikit-learn's trees only test `x <= threshold` (and True): then True becomes a test of a row
        // cell that always holds -infinity, and the walk needs no dispatch on the operator.
        let lessOrEqualOnly =
            !denseNodes.isEmpty
            && denseNodes.allSatisfy { $0.test == .lessOrEqual || $0.test == .alwaysTrue }
        if lessOrEqualOnly {
            for index in denseNodes.indices where denseNodes[index].test == .alwaysTrue {
                denseNodes[index].test = .lessOrEqual
                denseNodes[index].feature = UInt16(features.count)
                denseNodes[index].threshold = 0
            }
        }
        dense =
            denseNodes.isEmpty
            ? nil
            : DenseNodes(
                denseNodes, lessOrEqualOnly: lessOrEqualOnly,
                alwaysPasses: lessOrEqualOnly ? UInt16(features.count) : nil)
        self.features = denseNodes.isEmpty ? [] : features
        // One more cell than there are fields: the constant -infinity that True tests.
        rowBase = denseNodes.isEmpty ? -1 : compiler.allocateDoubles(features.count + 1)
        self.roots = roots
        returnLastPrediction = returnLast
        weights = model.weights
        self.scores = scores
        self.hasScore = hasScore
        categoryCount = k
        self.probabilities = probabilities
        self.hasDistribution = hasDistribution
        self.mapped = mapped
        weighted = model.method == .weightedAverage || model.method == .weightedSum
    }

    func predict(_ model: MiningModelNode, _ scratch: Scratch) throws(PMMLError) {
        if model.function == .regression {
            try combineNumbers(model, scratch)
        } else {
            try averageProbabilities(model, scratch)
        }
    }

    /// Copies the ensemble's fields into the dense row; false when one is not a number (or cannot be
    /// computed, which the general walk will then report if it reaches that field).
    private func gatherRow(_ scratch: Scratch) -> Bool {
        guard dense != nil else { return false }
        let row = scratch.doubles + rowBase
        for index in features.indices {
            guard let value = try? scratch.fetch(features[index]), value.tag == .number else { return false }
            row[index] = value.num
        }
        row[features.count] = -.infinity
        return true
    }

    private func combineNumbers(_ model: MiningModelNode, _ scratch: Scratch) throws(PMMLError) {
        var combiner = NumberCombiner(method: model.method)
        if gatherRow(scratch), let dense {
            let row = UnsafePointer(scratch.doubles + rowBase)
            for tree in roots.indices {
                let leaf = dense.walk(root: roots[tree], returnLastPrediction: returnLastPrediction[tree], row)
                guard leaf >= 0, hasScore[leaf] else {
                    // No prediction, or a leaf without a numeric score: the general loop decides.
                    return try combineNumbersGeneral(model, scratch)
                }
                combiner.add(scores[leaf], weight: weights[tree])
            }
            model.finishNumbers(combiner, scratch)
            return
        }
        try combineNumbersGeneral(model, scratch)
    }

    private func combineNumbersGeneral(_ model: MiningModelNode, _ scratch: Scratch) throws(PMMLError) {
        var combiner = NumberCombiner(method: model.method)
        for tree in roots.indices {
            let leaf = try flat.walk(root: roots[tree], returnLastPrediction: returnLastPrediction[tree], scratch)
            let y: Double
            if leaf >= 0 && hasScore[leaf] {
                y = scores[leaf]
            } else if leaf == WalkEnd.noPrediction {
                model.setMissing(scratch)
                return
            } else {
                guard let value = try model.childNumber(tree, scratch) else {
                    model.setMissing(scratch)
                    return
                }
                y = value
            }
            combiner.add(y, weight: weights[tree])
        }
        model.finishNumbers(combiner, scratch)
    }

    private func averageProbabilities(_ model: MiningModelNode, _ scratch: Scratch) throws(PMMLError) {
        model.clearProbabilities(scratch)
        let k = categoryCount
        let sums = scratch.doubles + model.probabilityBase
        var total = 0.0
        if gatherRow(scratch), let dense {
            let row = UnsafePointer(scratch.doubles + rowBase)
            for tree in roots.indices {
                let leaf = dense.walk(root: roots[tree], returnLastPrediction: returnLastPrediction[tree], row)
                guard leaf >= 0, hasDistribution[leaf] else { continue }
                let weight = weighted ? weights[tree] : 1
                for category in 0..<k where mapped[tree * k + category] {
                    sums[category] += weight * probabilities[leaf * k + category]
                }
                total += weight
            }
            model.finishProbabilities(total: total, scratch)
            return
        }
        for tree in roots.indices {
            let leaf = try flat.walk(root: roots[tree], returnLastPrediction: returnLastPrediction[tree], scratch)
            if leaf == WalkEnd.noPrediction { continue }
            if leaf < 0 {
                total += try model.addChildProbabilities(tree, scratch)
                continue
            }
            guard hasDistribution[leaf] else { continue }
            let weight = weighted ? weights[tree] : 1
            for category in 0..<k where mapped[tree * k + category] {
                sums[category] += weight * probabilities[leaf * k + category]
            }
            total += weight
        }
        model.finishProbabilities(total: total, scratch)
    }
}

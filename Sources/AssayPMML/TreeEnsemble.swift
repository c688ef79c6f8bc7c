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

    /// Nil when the model is not such an ensemble or its combining method has no fast form here.
    init?(_ model: MiningModelNode) {
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
                  model.predicates.flatTest(model.segmentPredicates[index]).test == .alwaysTrue else { return nil }
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

    private func combineNumbers(_ model: MiningModelNode, _ scratch: Scratch) throws(PMMLError) {
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

// A compiled tree's scoring form: its nodes as flat records (see `FlatNodes`) and its leaf tables, built
// once from the `TreeModelNode` arrays after compilation and never changed.

/// A compiled tree's scoring tables, immutable once built, so that reading them needs no exclusivity
/// checks (the node's own arrays are grown while compiling).
final class TreePlan {
    let flat: FlatNodes
    let score: [V]
    let scoreCategory: [Int32]
    let hasDistribution: [Bool]
    let distribution: [Double]

    init(_ tree: TreeModelNode) {
        flat = FlatNodes(tree.flatNodes(offset: 0))
        score = tree.score
        scoreCategory = tree.scoreCategory
        hasDistribution = tree.hasDistribution
        distribution = tree.distribution
    }
}

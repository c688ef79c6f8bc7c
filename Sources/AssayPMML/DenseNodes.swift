// The tree walk for ensembles whose every test is inline, on rows whose fields are all numbers: the fields
// are gathered once into a dense row of doubles and each node is 16 bytes indexing that row, so a walk
// reads no slots and checks no tags. Answers are those of `FlatNode.evaluate` for numbers, NaN included.

/// A flat node whose test reads a dense row of doubles instead of a slot: 16 bytes, four to a cache line.
/// Used when every test of an ensemble is inline and the row's fields are all numbers.
struct DenseNode {
    var threshold: Double
    var firstChild: Int32
    /// Index of the tested field in the ensemble's dense row.
    var feature: UInt16
    var test: FlatNode.Test
    var childCount: UInt8

    /// The same answers as `FlatNode.evaluate` gives for a number, NaN included.
    @inline(__always)
    func passes(_ row: UnsafePointer<Double>) -> Bool {
        switch test {
        case .alwaysTrue: return true
        case .lessOrEqual: return !(row[Int(feature)] > threshold)
        case .lessThan: return row[Int(feature)] < threshold
        case .greaterThan: return row[Int(feature)] > threshold
        case .greaterOrEqual: return !(row[Int(feature)] < threshold)
        case .equal: return !(row[Int(feature)] < threshold) && !(row[Int(feature)] > threshold)
        case .notEqual: return row[Int(feature)] < threshold || row[Int(feature)] > threshold
        case .alwaysFalse, .general: return false
        }
    }
}

/// A buffer of dense nodes, freed with its owner.
final class DenseNodes {
    let nodes: UnsafeMutableBufferPointer<DenseNode>
    /// Every test is `lessOrEqual` (True having been turned into one that always passes).
    let lessOrEqualOnly: Bool
    /// Besides, every inner node has two children and the second always passes (scikit-learn's shape):
    /// a step is then "first child, or the next one if the first fails", with nothing to mispredict.
    let binary: Bool

    /// `alwaysPasses` is the row cell that True tests were turned into, if any.
    init(_ source: [DenseNode], lessOrEqualOnly: Bool, alwaysPasses: UInt16?) {
        nodes = .allocate(capacity: max(source.count, 1))
        _ = nodes.initialize(from: source)
        self.lessOrEqualOnly = lessOrEqualOnly
        binary =
            lessOrEqualOnly && alwaysPasses != nil
            && source.allSatisfy { node in
                node.childCount == 0
                    || (node.childCount == 2 && source[Int(node.firstChild) + 1].feature == alwaysPasses)
            }
    }

    deinit { nodes.deallocate() }

    /// `FlatNodes.walk` for a row whose fields are all numbers: every test has an answer.
    @inline(__always)
    func walk(root: Int, returnLastPrediction: Bool, _ row: UnsafePointer<Double>) -> Int {
        if binary { return walkBinary(root: root, row) }
        if lessOrEqualOnly { return walkLessOrEqual(root: root, returnLastPrediction: returnLastPrediction, row) }
        let base = nodes.baseAddress!
        guard base[root].passes(row) else { return WalkEnd.noPrediction }
        var node = root
        while true {
            let count = Int(base[node].childCount)
            if count == 0 { return node }
            var child = Int(base[node].firstChild)
            let end = child + count
            while child < end && !base[child].passes(row) { child += 1 }
            if child == end { return returnLastPrediction ? node : WalkEnd.noPrediction }
            node = child
        }
    }
}

extension DenseNodes {
    /// `walk` when every test is `lessOrEqual`: `!(x > threshold)`, so NaN passes as in `FlatNode`.
    @inline(__always)
    private func walkLessOrEqual(root: Int, returnLastPrediction: Bool, _ row: UnsafePointer<Double>) -> Int {
        let base = nodes.baseAddress!
        if row[Int(base[root].feature)] > base[root].threshold { return WalkEnd.noPrediction }
        var node = root
        while true {
            let count = Int(base[node].childCount)
            if count == 0 { return node }
            var child = Int(base[node].firstChild)
            let end = child + count
            while child < end && row[Int(base[child].feature)] > base[child].threshold { child += 1 }
            if child == end { return returnLastPrediction ? node : WalkEnd.noPrediction }
            node = child
        }
    }
}

extension DenseNodes {
    /// `walk` for `binary` trees: the second child is taken exactly when the first child's test fails.
    @inline(__always)
    private func walkBinary(root: Int, _ row: UnsafePointer<Double>) -> Int {
        let base = nodes.baseAddress!
        if row[Int(base[root].feature)] > base[root].threshold { return WalkEnd.noPrediction }
        var node = root
        while base[node].childCount != 0 {
            let first = Int(base[node].firstChild)
            let fails = row[Int(base[first].feature)] > base[first].threshold
            node = first &+ (fails ? 1 : 0)
        }
        return node
    }
}

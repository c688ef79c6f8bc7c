// The scoring form of one or more decision trees: every node one fixed-size record in a single buffer,
// with the common predicate (a field compared with a number, True, False) coded inline, so that a walk
// is a loop over integers and doubles. Anything else (missing or non-numeric values, string constants,
// set and compound predicates) is left to the general `PredicateProgram` path, which keeps every PMML
// rule; the fast walk only answers when its answer is certain to be the same.

/// One tree node as the fast walk sees it.
struct FlatNode {
    /// The node's predicate, when it is simple enough to test inline.
    enum Test: UInt8 {
        /// Anything else: evaluate `predicate` with the general program.
        case general
        case alwaysTrue, alwaysFalse
        case lessThan, lessOrEqual, greaterThan, greaterOrEqual, equal, notEqual
    }

    var threshold: Double = 0
    var slot: Int32 = 0
    var test: Test = .general
    /// Index of the node's predicate in its tree's `PredicateProgram`.
    var predicate: Int32 = 0
    /// Children are contiguous: `firstChild ..< firstChild + childCount`, indices in the same buffer.
    var firstChild: Int32 = -1
    var childCount: Int32 = 0

    /// The predicate's answer when the inline test can give it; nil when the general path must.
    @inline(__always)
    func evaluate(_ scratch: Scratch) throws(PMMLError) -> Bool? {
        switch test {
        case .alwaysTrue: return true
        case .alwaysFalse: return false
        case .general: return nil
        default:
            let value = try scratch.fetch(slot)
            guard value.tag == .number else { return nil }
            // The same three-way order as the general path, so that NaN compares as it does there.
            let x = value.num
            let order = x < threshold ? -1 : (x > threshold ? 1 : 0)
            switch test {
            case .lessThan: return order < 0
            case .lessOrEqual: return order <= 0
            case .greaterThan: return order > 0
            case .greaterOrEqual: return order >= 0
            case .equal: return order == 0
            default: return order != 0
            }
        }
    }
}

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

/// What a fast walk ended with.
enum WalkEnd {
    /// The tree predicts nothing (a false root, or no true child under returnNullPrediction).
    static let noPrediction = -1
    /// A predicate needs the general path (unknown results trigger the missing value strategy).
    static let needsGeneralPath = -2
}

/// A buffer of flat nodes, freed with its owner.
final class FlatNodes {
    let nodes: UnsafeMutableBufferPointer<FlatNode>

    init(_ source: [FlatNode]) {
        nodes = .allocate(capacity: max(source.count, 1))
        _ = nodes.initialize(from: source)
    }

    deinit { nodes.deallocate() }

    /// Walks one tree from `root` while every predicate has a certain inline answer. Returns the node
    /// the prediction comes from, or one of the `WalkEnd` codes.
    @inline(__always)
    func walk(root: Int, returnLastPrediction: Bool, _ scratch: Scratch) throws(PMMLError) -> Int {
        let base = nodes.baseAddress!
        switch try base[root].evaluate(scratch) {
        case true?: break
        case false?: return WalkEnd.noPrediction
        case nil: return WalkEnd.needsGeneralPath
        }
        var node = root
        while true {
            let count = Int(base[node].childCount)
            if count == 0 { return node }
            let first = Int(base[node].firstChild)
            var selected = -1
            for child in first..<(first + count) {
                guard let truth = try base[child].evaluate(scratch) else { return WalkEnd.needsGeneralPath }
                if truth {
                    selected = child
                    break
                }
            }
            if selected < 0 { return returnLastPrediction ? node : WalkEnd.noPrediction }
            node = selected
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
        binary = lessOrEqualOnly && alwaysPasses != nil && source.allSatisfy { node in
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

extension PredicateProgram {
    /// The inline form of predicate `index`, with `general` when it has none.
    func flatTest(_ index: Int32) -> (test: FlatNode.Test, slot: Int32, threshold: Double) {
        let node = nodes[Int(index)]
        switch node.op {
        case .alwaysTrue: return (.alwaysTrue, 0, 0)
        case .alwaysFalse: return (.alwaysFalse, 0, 0)
        case .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual, .equal, .notEqual:
            guard node.constant.tag == .number else { return (.general, 0, 0) }
            let test: FlatNode.Test
            switch node.op {
            case .lessThan: test = .lessThan
            case .lessOrEqual: test = .lessOrEqual
            case .greaterThan: test = .greaterThan
            case .greaterOrEqual: test = .greaterOrEqual
            case .equal: test = .equal
            default: test = .notEqual
            }
            return (test, node.slot, node.constant.num)
        default:
            return (.general, 0, 0)
        }
    }
}

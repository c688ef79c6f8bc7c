// The scoring form of one or more decision trees: every node one fixed-size record in a single buffer,
// with the common predicate (a field compared with a number, True, False) coded inline, so that a walk
// is a loop over integers and doubles. Anything else (missing or non-numeric values, string constants,
// set and compound predicates) is left to the general `PredicateProgram` path, which keeps every PMML
// rule; the fast walk only answers when its answer is certain to be the same.

/// One tree node as the fast walk sees it.
struct FlatNode {
    /// The node's predicate, when it is simple enough to test inline.
    enum Test: UInt8 {
        /// Anything else: the general `PredicateProgram` path evaluates it.
        case general
        case alwaysTrue, alwaysFalse
        case lessThan, lessOrEqual, greaterThan, greaterOrEqual, equal, notEqual
    }

    var threshold: Double = 0
    var slot: Int32 = 0
    var test: Test = .general
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

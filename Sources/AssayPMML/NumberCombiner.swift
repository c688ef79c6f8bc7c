// The arithmetic of a numeric (regression) Segmentation, shared by the general segment loop and the
// flat tree-ensemble path so that both add the same numbers in the same order.

/// Folds segment predictions the way `multipleModelMethod` says, for numeric (regression) ensembles.
struct NumberCombiner {
    let method: MiningModelNode.Method
    var sum = 0.0
    var floatSum: Float = 0
    var weightSum = 0.0
    var count = 0
    var maximum = -Double.infinity
    var collected: [(Double, Double)] = []

    init(method: MiningModelNode.Method) {
        self.method = method
    }

    @inline(__always)
    mutating func add(_ y: Double, weight: Double) {
        switch method {
        case .sum:
            sum += y
            floatSum += Float(y)
        case .average: sum += y
        case .weightedAverage, .weightedSum:
            sum += weight * y
            floatSum += Float(weight) * Float(y)
        case .max: maximum = Swift.max(maximum, y)
        default: collected.append((y, weight))
        }
        weightSum += weight
        count += 1
    }

    /// The combined value, nil when nothing was added.
    func result(floatContext: Bool) -> Double? {
        guard count > 0 else { return nil }
        var y: Double
        switch method {
        case .sum, .weightedSum: y = floatContext ? Double(floatSum) : sum
        case .average: y = sum / Double(count)
        case .weightedAverage: y = sum / weightSum
        case .max: y = maximum
        case .median:
            let sorted = collected.map(\.0).sorted()
            let middle = sorted.count / 2
            y = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        default:
            let sorted = collected.sorted { $0.0 < $1.0 }
            var accumulated = 0.0
            y = sorted.last!.0
            for (value, weight) in sorted {
                accumulated += weight
                if accumulated >= weightSum / 2 {
                    y = value
                    break
                }
            }
        }
        if floatContext { y = Double(Float(y)) }
        return y
    }
}

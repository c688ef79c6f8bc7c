// The executable form shared by every model kind: where its result lives in the scratch buffers, its
// categories (classification) or entities (tree nodes, clusters, rules), the Targets post-processing and
// the output fields to compute once it has run. Subclasses only implement `predict`.

enum MiningFunction: String {
    case regression, classification, clustering
}

/// The Targets element of one model, reduced to what scoring needs.
struct TargetSpec {
    var rescaleFactor = 1.0
    var rescaleConstant = 0.0
    var castInteger: String?
    var minimum: Double?
    var maximum: Double?
    var defaultValue: Double?
    /// Prior probabilities by category index, used when the model yields no prediction.
    var priors: [Double]?
    var isIdentity: Bool {
        rescaleFactor == 1 && rescaleConstant == 0 && castInteger == nil && minimum == nil && maximum == nil
    }
}

class ModelNode {
    let element: String
    let function: MiningFunction
    /// Index of this model's record in `Scratch.results`.
    var resultIndex = 0
    /// Target categories (classification) as interned values, in probability-region order.
    var categories: [V] = []
    var categoryLabels: [String] = []
    /// Offset in `Scratch.doubles` of one probability per category.
    var probabilityBase = 0
    /// Entity identifiers (node ids, cluster ids, rule ids) and their display names.
    var entityIds: [V] = []
    var entityNames: [V] = []
    /// Offset in `Scratch.doubles` of one affinity per entity (clustering, nearest neighbours).
    var affinityBase = -1
    /// Offset and count in `Scratch.doubles` of ranked reason codes (interned codes; NaN = none).
    var reasonBase = -1
    var reasonCount = 0
    /// Offset and count in `Scratch.doubles` of entity indices by rank (nearest neighbours).
    var rankedEntityBase = -1
    var rankedEntityCount = 0
    var targets: TargetSpec?
    var targetName: String?
    var targetDataType: PMMLDataType = .double
    /// Display values of categories from Targets/TargetValue, by category index.
    var displayValues: [Int32: Int32] = [:]
    /// Output slots to compute right after the prediction (segments in a chain read them).
    var outputSlots: [Int32] = []
    /// The output fields by name, so that a model chain can expose them to later segments.
    var outputFields: [FieldInfo] = []
    /// float math context (`x-mathContext="float"`): results are rounded to 32 bits.
    var floatContext = false

    init(element: String, function: MiningFunction) {
        self.element = element
        self.function = function
    }

    /// Computes the raw prediction into `scratch.results[resultIndex]` (and the probability region).
    func predict(_ scratch: Scratch) throws(PMMLError) {
        fatalError("predict must be overridden")
    }

    final func evaluate(_ scratch: Scratch) throws(PMMLError) {
        try predict(scratch)
        if let targets { applyTargets(targets, scratch) }
        for slot in outputSlots { _ = try scratch.fetch(slot) }
    }

    final func category(of value: V) -> Int {
        for index in categories.indices where categories[index].same(value) { return index }
        return -1
    }

    private func applyTargets(_ spec: TargetSpec, _ scratch: Scratch) {
        let result = scratch.results + resultIndex
        switch function {
        case .regression:
            if result.pointee.value.isMissing {
                if let value = spec.defaultValue { result.pointee.value = .number(value) }
                return
            }
            guard !spec.isIdentity, result.pointee.value.tag == .number else { return }
            var value = result.pointee.value.num * spec.rescaleFactor + spec.rescaleConstant
            if let minimum = spec.minimum, value < minimum { value = minimum }
            if let maximum = spec.maximum, value > maximum { value = maximum }
            switch spec.castInteger {
            case "round": value = (value + 0.5).rounded(.down)
            case "ceiling": value = value.rounded(.up)
            case "floor": value = value.rounded(.down)
            default: break
            }
            result.pointee.value = .number(value)
        case .classification:
            guard result.pointee.value.isMissing, let priors = spec.priors, priors.count == categories.count else {
                return
            }
            var best = -1
            for index in priors.indices {
                scratch.doubles[probabilityBase + index] = priors[index]
                if best < 0 || priors[index] > priors[best] { best = index }
            }
            if best >= 0 {
                result.pointee.value = categories[best]
                result.pointee.category = Int32(best)
                result.pointee.hasProbabilities = true
            }
        case .clustering:
            break
        }
    }

    /// Writes a classification result from the probability region: argmax, first wins ties.
    final func finishClassification(_ scratch: Scratch) {
        let result = scratch.results + resultIndex
        var best = -1
        var bestValue = -Double.infinity
        for index in categories.indices {
            let p = scratch.doubles[probabilityBase + index]
            if p > bestValue || best < 0 {
                if best < 0 || p > bestValue {
                    best = index
                    bestValue = p
                }
            }
        }
        result.pointee.hasProbabilities = true
        if best >= 0 {
            result.pointee.value = categories[best]
            result.pointee.category = Int32(best)
        } else {
            result.pointee.value = .missing
            result.pointee.category = -1
        }
    }

    final func setMissing(_ scratch: Scratch) {
        let result = scratch.results + resultIndex
        result.pointee = ModelResult()
    }
}

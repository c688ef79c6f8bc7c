// ClusteringModel (center-based): cluster centres are one dense matrix; the comparison measure and the
// per-field compare functions are resolved at load time. Missing inputs are skipped and the sum is
// scaled by the MissingValueWeights, as PMML specifies. Distribution-based models, binary similarity
// measures and compare tables are refused.

#if canImport(Glibc)
    import Glibc
#endif

final class ClusteringNode: ModelNode {
    enum Measure: String {
        case euclidean, squaredEuclidean, chebychev, cityBlock, minkowski
    }

    enum Compare: String {
        case absDiff, gaussSim, delta, equal
    }

    var slots: [Int32] = []
    var weights: [Double] = []
    var compares: [Compare] = []
    var scales: [Double] = []
    var missingWeights: [Double] = []
    var centers: [Double] = []
    var clusterCount = 0
    var measure = Measure.euclidean
    var minkowskiP = 2.0
    var isSimilarity = false

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = ClusteringNode(element: "ClusteringModel", function: context.function)
        guard node.function == .clustering else {
            throw .unsupported("ClusteringModel", attribute: "functionName", value: node.function.rawValue)
        }
        let modelClass = try element.required("modelClass")
        guard modelClass == "centerBased" else {
            throw .unsupported("ClusteringModel", attribute: "modelClass", value: modelClass)
        }
        try context.setUp(node)
        guard let comparison = element.child("ComparisonMeasure") else {
            throw PMMLError("ClusteringModel without ComparisonMeasure", element: "ClusteringModel")
        }
        node.isSimilarity = comparison.attribute("kind") == "similarity"
        guard let measureElement = comparison.children.first(where: { $0.name != "Extension" }) else {
            throw PMMLError("ComparisonMeasure without a measure", element: "ComparisonMeasure")
        }
        guard let measure = Measure(rawValue: measureElement.name) else { throw .unsupported(measureElement.name) }
        node.measure = measure
        node.minkowskiP = try measureElement.double("p-parameter", default: 2)
        let defaultCompare = comparison.attribute("compareFunction") ?? "absDiff"
        for field in element.children("ClusteringField") where field.attribute("isCenterField") != "false" {
            node.slots.append(try context.scope.lookup(try field.required("field")).slot)
            node.weights.append(try field.double("fieldWeight", default: 1))
            let name = field.attribute("compareFunction") ?? defaultCompare
            guard let compare = Compare(rawValue: name) else {
                throw .unsupported("ClusteringField", attribute: "compareFunction", value: name)
            }
            node.compares.append(compare)
            node.scales.append(try field.double("similarityScale", default: 1))
            if field.child("Comparisons") != nil { throw .unsupported("Comparisons") }
        }
        let dimension = node.slots.count
        node.missingWeights = [Double](repeating: 1, count: dimension)
        if let missing = element.child("MissingValueWeights"), let array = missing.child("Array") {
            let values = try ArrayParser.numbers(array)
            guard values.count == dimension else {
                throw PMMLError(
                    "MissingValueWeights has \(values.count) values for \(dimension) fields",
                    element: "MissingValueWeights")
            }
            node.missingWeights = values
        }
        for (index, cluster) in element.children("Cluster").enumerated() {
            guard let array = cluster.child("Array") else {
                throw PMMLError("Cluster without a centre Array", element: "Cluster")
            }
            let center = try ArrayParser.numbers(array)
            guard center.count == dimension else {
                throw PMMLError("Cluster centre has \(center.count) values for \(dimension) fields", element: "Cluster")
            }
            node.centers.append(contentsOf: center)
            let id = cluster.attribute("id") ?? String(index + 1)
            node.entityIds.append(.string(context.compiler.table.intern(id)))
            node.entityNames.append(
                cluster.attribute("name").map { .string(context.compiler.table.intern($0)) } ?? .missing)
            node.clusterCount += 1
        }
        guard node.clusterCount > 0 else {
            throw PMMLError("ClusteringModel without clusters", element: "ClusteringModel")
        }
        node.affinityBase = context.compiler.allocateDoubles(node.clusterCount)
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let dimension = slots.count
        var best = -1
        var bestValue = 0.0
        var totalWeight = 0.0
        var presentWeight = 0.0
        for index in 0..<dimension {
            totalWeight += missingWeights[index]
            if !(try scratch.fetch(slots[index])).isMissing { presentWeight += missingWeights[index] }
        }
        guard presentWeight > 0 else { return setMissing(scratch) }
        let adjustment = totalWeight / presentWeight
        for cluster in 0..<clusterCount {
            var sum = 0.0
            for index in 0..<dimension {
                let value = try scratch.fetch(slots[index])
                if value.isMissing { continue }
                guard let x = scratch.number(of: value) else { return setMissing(scratch) }
                let y = centers[cluster * dimension + index]
                var c: Double
                switch compares[index] {
                case .absDiff: c = Swift.abs(x - y)
                case .gaussSim: c = Glibc.exp(-Glibc.log(2.0) * (x - y) * (x - y) / (scales[index] * scales[index]))
                case .delta: c = x == y ? 0 : 1
                case .equal: c = x == y ? 1 : 0
                }
                switch measure {
                case .euclidean, .squaredEuclidean: sum += weights[index] * c * c
                case .cityBlock: sum += weights[index] * Swift.abs(c)
                case .chebychev: sum = Swift.max(sum, weights[index] * Swift.abs(c))
                case .minkowski: sum += weights[index] * Glibc.pow(Swift.abs(c), minkowskiP)
                }
            }
            var distance: Double
            switch measure {
            case .euclidean: distance = (sum * adjustment).squareRoot()
            case .squaredEuclidean, .cityBlock: distance = sum * adjustment
            case .chebychev: distance = sum
            case .minkowski: distance = Glibc.pow(sum * adjustment, 1 / minkowskiP)
            }
            scratch.doubles[affinityBase + cluster] = distance
            if best < 0 || (isSimilarity ? distance > bestValue : distance < bestValue) {
                best = cluster
                bestValue = distance
            }
        }
        scratch.results[resultIndex] = ModelResult(value: entityIds[best], category: -1, entity: Int32(best))
    }
}

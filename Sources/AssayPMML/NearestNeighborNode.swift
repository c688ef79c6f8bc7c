// NearestNeighborModel: the training instances (InlineTable) are loaded into a dense matrix of KNN input
// values plus each instance's target value and id. Scoring computes every distance, keeps the k nearest
// (ties keep table order) and votes or averages. Ranked `entityId` outputs read the neighbours in order.
// TODO: similarity measures, non-absDiff compare functions and TableLocator are refused.

#if canImport(Glibc)
    import Glibc
#endif

final class NearestNeighborNode: ModelNode {
    var slots: [Int32] = []
    var weights: [Double] = []
    var instances: [Double] = []
    var instanceCategory: [Int] = []
    var instanceValue: [Double] = []
    var instanceCount = 0
    var k = 1
    var measure = ClusteringNode.Measure.euclidean
    var minkowskiP = 2.0
    var continuousMethod = "average"
    var categoricalMethod = "majorityVote"
    var threshold = 0.001
    var distanceBase = 0

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = NearestNeighborNode(element: "NearestNeighborModel", function: context.function)
        guard node.function != .clustering else {
            throw .unsupported("NearestNeighborModel", attribute: "functionName", value: "clustering")
        }
        guard let training = element.child("TrainingInstances"),
            let fieldList = training.child("InstanceFields"), let table = training.child("InlineTable")
        else {
            throw PMMLError("NearestNeighborModel without inline TrainingInstances", element: "TrainingInstances")
        }
        var columns: [String: String] = [:]
        for field in fieldList.children("InstanceField") {
            var column = try field.required("column")
            if let colon = column.lastIndex(of: ":") { column = String(column[column.index(after: colon)...]) }
            columns[try field.required("field")] = column
        }
        guard let target = context.targetName, let targetColumn = columns[target] else {
            throw PMMLError(
                "NearestNeighborModel needs one target with an InstanceField", element: "NearestNeighborModel")
        }
        let rows = table.children("row")
        var labels: [String] = []
        if node.function == .classification {
            for row in rows {
                if let cell = row.child(targetColumn)?.text.trimmingSpaces(), !labels.contains(cell) {
                    labels.append(cell)
                }
            }
        }
        try context.setUp(node, modelLabels: labels)
        node.k = try element.int("numberOfNeighbors") ?? 1
        node.continuousMethod = element.attribute("continuousScoringMethod") ?? "average"
        node.categoricalMethod = element.attribute("categoricalScoringMethod") ?? "majorityVote"
        guard ["average", "median", "weightedAverage"].contains(node.continuousMethod) else {
            throw .unsupported(
                "NearestNeighborModel", attribute: "continuousScoringMethod", value: node.continuousMethod)
        }
        guard ["majorityVote", "weightedMajorityVote"].contains(node.categoricalMethod) else {
            throw .unsupported(
                "NearestNeighborModel", attribute: "categoricalScoringMethod", value: node.categoricalMethod)
        }
        node.threshold = try element.double("threshold", default: 0.001)
        guard let comparison = element.child("ComparisonMeasure"), comparison.attribute("kind") != "similarity",
            let measureElement = comparison.children.first(where: { $0.name != "Extension" }),
            let measure = ClusteringNode.Measure(rawValue: measureElement.name)
        else {
            throw PMMLError("unsupported ComparisonMeasure in NearestNeighborModel", element: "ComparisonMeasure")
        }
        if let compare = comparison.attribute("compareFunction"), compare != "absDiff" {
            throw .unsupported("ComparisonMeasure", attribute: "compareFunction", value: compare)
        }
        node.measure = measure
        node.minkowskiP = try measureElement.double("p-parameter", default: 2)
        var inputColumns: [String] = []
        for input in element.child("KNNInputs")?.children("KNNInput") ?? [] {
            let name = try input.required("field")
            node.slots.append(try context.scope.lookup(name).slot)
            node.weights.append(try input.double("fieldWeight", default: 1))
            guard let column = columns[name] else {
                // TODO: KNN inputs derived from instance fields need the transformations run over the training table.
                throw PMMLError(
                    "KNNInput '\(name)' is not a training-instance column (derived KNN inputs are not "
                        + "supported)", element: "KNNInput", field: name)
            }
            inputColumns.append(column)
        }
        let idColumn = element.attribute("instanceIdVariable").flatMap { columns[$0] }
        for (index, row) in rows.enumerated() {
            for column in inputColumns {
                guard let text = row.child(column)?.text, let value = parseDouble(text) else {
                    throw PMMLError(
                        "training instance \(index + 1) has no number in column '\(column)'", element: "InlineTable")
                }
                node.instances.append(value)
            }
            let targetText = row.child(targetColumn)?.text.trimmingSpaces() ?? ""
            if node.function == .classification {
                node.instanceCategory.append(try context.categoryIndex(node, targetText))
            } else {
                guard let value = parseDouble(targetText) else {
                    throw PMMLError("training instance \(index + 1) has no numeric target", element: "InlineTable")
                }
                node.instanceValue.append(value)
            }
            let id = idColumn.flatMap { row.child($0)?.text.trimmingSpaces() } ?? String(index + 1)
            node.entityIds.append(.string(context.compiler.table.intern(id)))
            node.instanceCount += 1
        }
        guard node.instanceCount >= node.k, node.k >= 1 else {
            throw PMMLError(
                "NearestNeighborModel has fewer instances than numberOfNeighbors", element: "NearestNeighborModel")
        }
        node.distanceBase = context.compiler.allocateDoubles(node.instanceCount)
        node.rankedEntityBase = context.compiler.allocateDoubles(node.k)
        node.rankedEntityCount = node.k
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let dimension = slots.count
        var x = [Double](repeating: 0, count: dimension)
        for index in 0..<dimension {
            guard let value = scratch.number(of: try scratch.fetch(slots[index])) else { return setMissing(scratch) }
            x[index] = value
        }
        let distances = scratch.doubles + distanceBase
        for instance in 0..<instanceCount {
            var sum = 0.0
            for index in 0..<dimension {
                let c = Swift.abs(x[index] - instances[instance * dimension + index])
                switch measure {
                case .euclidean, .squaredEuclidean: sum += weights[index] * c * c
                case .cityBlock: sum += weights[index] * c
                case .chebychev: sum = Swift.max(sum, weights[index] * c)
                case .minkowski: sum += weights[index] * Glibc.pow(c, minkowskiP)
                }
            }
            switch measure {
            case .euclidean: distances[instance] = sum.squareRoot()
            case .minkowski: distances[instance] = Glibc.pow(sum, 1 / minkowskiP)
            default: distances[instance] = sum
            }
        }
        // Selection of the k nearest; ties keep table order.
        let ranked = scratch.doubles + rankedEntityBase
        var chosen = [Int](repeating: -1, count: k)
        for slot in 0..<k {
            var best = -1
            for instance in 0..<instanceCount where !chosen[0..<slot].contains(instance) {
                if best < 0 || distances[instance] < distances[best] { best = instance }
            }
            chosen[slot] = best
            ranked[slot] = Double(best)
        }
        if function == .regression {
            var y: Double
            switch continuousMethod {
            case "median":
                let values = chosen.map { instanceValue[$0] }.sorted()
                y =
                    values.count % 2 == 1
                    ? values[values.count / 2] : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
            case "weightedAverage":
                var sum = 0.0, total = 0.0
                for instance in chosen {
                    let weight = 1 / (distances[instance] + threshold)
                    sum += weight * instanceValue[instance]
                    total += weight
                }
                y = sum / total
            default:
                y = chosen.reduce(0.0) { $0 + instanceValue[$1] } / Double(k)
            }
            scratch.results[resultIndex] = ModelResult(value: .number(y), entity: Int32(chosen[0]))
            return
        }
        let p = scratch.doubles + probabilityBase
        for category in categories.indices { p[category] = 0 }
        var total = 0.0
        for instance in chosen {
            let weight = categoricalMethod == "weightedMajorityVote" ? 1 / (distances[instance] + threshold) : 1
            p[instanceCategory[instance]] += weight
            total += weight
        }
        for category in categories.indices { p[category] /= total }
        finishClassification(scratch)
        scratch.results[resultIndex].entity = Int32(chosen[0])
    }
}

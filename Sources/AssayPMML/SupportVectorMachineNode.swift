// SupportVectorMachineModel: the VectorDictionary becomes one dense matrix (categorical vector fields
// become 0/1 indicators), each row's input vector is built once and each kernel value is computed once
// per row and shared by all machines. Classification is one-against-one voting (vote shares reported
// as probabilities, as JPMML does) or one-against-all.

#if canImport(Glibc)
    import Glibc
#endif

final class SupportVectorMachineNode: ModelNode {
    enum Kernel {
        case linear, polynomial(gamma: Double, coef0: Double, degree: Double), radialBasis(gamma: Double)
        case sigmoid(gamma: Double, coef0: Double)
    }

    var fieldSlots: [Int32] = []
    var fieldCategories: [V?] = []
    var dimension = 0
    var vectors: [Double] = []
    var vectorCount = 0
    var kernel = Kernel.linear
    var usesCoefficients = false
    var machineVectors: [[Int]] = []
    var machineCoefficients: [[Double]] = []
    var machineBias: [Double] = []
    var machineTarget: [Int] = []
    var machineAlternate: [Int] = []
    var machineThreshold: [Double] = []
    var oneAgainstOne = true
    var maxWins = false
    var scratchBase = 0

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = SupportVectorMachineNode(element: "SupportVectorMachineModel", function: context.function)
        guard node.function != .clustering else {
            throw .unsupported("SupportVectorMachineModel", attribute: "functionName", value: "clustering")
        }
        let machines = element.children("SupportVectorMachine")
        var labels: [String] = []
        for machine in machines {
            for key in ["targetCategory", "alternateTargetCategory"] {
                if let label = machine.attribute(key), !labels.contains(label) { labels.append(label) }
            }
        }
        try context.setUp(node, modelLabels: labels)
        guard let dictionary = element.child("VectorDictionary"), let fields = dictionary.child("VectorFields") else {
            throw PMMLError(
                "SupportVectorMachineModel without VectorDictionary/VectorFields", element: "VectorDictionary")
        }
        for field in fields.children where field.name != "Extension" {
            switch field.name {
            case "FieldRef":
                node.fieldSlots.append(try context.scope.lookup(try field.required("field")).slot)
                node.fieldCategories.append(nil)
            case "CategoricalPredictor":
                let info = try context.scope.lookup(try field.required("name"))
                node.fieldSlots.append(info.slot)
                node.fieldCategories.append(try context.compiler.literal(try field.required("value"), info.dataType))
            default: throw .unsupported(field.name)
            }
        }
        node.dimension = node.fieldSlots.count
        var vectorIndex: [String: Int] = [:]
        for instance in dictionary.children("VectorInstance") {
            var values = [Double](repeating: 0, count: node.dimension)
            if let sparse = instance.child("REAL-SparseArray") {
                let indices = sparse.child("Indices").map { ArrayParser.numbersLoose($0) } ?? []
                let entries = sparse.child("REAL-Entries").map { ArrayParser.numbersLoose($0) } ?? []
                guard indices.count == entries.count else {
                    throw PMMLError(
                        "REAL-SparseArray has \(indices.count) indices but \(entries.count) entries",
                        element: "REAL-SparseArray")
                }
                for (index, entry) in zip(indices, entries) {
                    let position = Int(index) - 1
                    guard position >= 0 && position < node.dimension else {
                        throw PMMLError(
                            "REAL-SparseArray index \(Int(index)) is out of range", element: "REAL-SparseArray")
                    }
                    values[position] = entry
                }
            } else if let array = instance.child("Array") {
                let dense = try ArrayParser.numbers(array)
                guard dense.count == node.dimension else {
                    throw PMMLError(
                        "VectorInstance has \(dense.count) values for \(node.dimension) fields", element: "Array")
                }
                values = dense
            } else {
                throw PMMLError("VectorInstance without values", element: "VectorInstance")
            }
            vectorIndex[try instance.required("id")] = node.vectorCount
            node.vectors.append(contentsOf: values)
            node.vectorCount += 1
        }
        if element.child("LinearKernelType") != nil {
            node.kernel = .linear
        } else if let k = element.child("PolynomialKernelType") {
            node.kernel = .polynomial(
                gamma: try k.double("gamma", default: 1), coef0: try k.double("coef0", default: 1),
                degree: try k.double("degree", default: 1))
        } else if let k = element.child("RadialBasisKernelType") {
            node.kernel = .radialBasis(gamma: try k.double("gamma", default: 1))
        } else if let k = element.child("SigmoidKernelType") {
            node.kernel = .sigmoid(gamma: try k.double("gamma", default: 1), coef0: try k.double("coef0", default: 1))
        } else {
            throw PMMLError("SupportVectorMachineModel without a kernel type", element: "SupportVectorMachineModel")
        }
        node.usesCoefficients = element.attribute("svmRepresentation") == "Coefficients"
        let method = element.attribute("classificationMethod") ?? "OneAgainstAll"
        guard method == "OneAgainstAll" || method == "OneAgainstOne" else {
            throw .unsupported("SupportVectorMachineModel", attribute: "classificationMethod", value: method)
        }
        node.oneAgainstOne = method == "OneAgainstOne"
        node.maxWins = element.attribute("maxWins") == "true"
        let threshold = try element.double("threshold", default: 0)
        for machine in machines {
            guard let coefficients = machine.child("Coefficients") else {
                throw PMMLError("SupportVectorMachine without Coefficients", element: "SupportVectorMachine")
            }
            node.machineBias.append(try coefficients.double("absoluteValue", default: 0))
            node.machineCoefficients.append(
                try coefficients.children("Coefficient").map { (c) throws(PMMLError) -> Double in
                    try c.double("value", default: 0)
                })
            var ids: [Int] = []
            for vector in machine.child("SupportVectors")?.children("SupportVector") ?? [] {
                let id = try vector.required("vectorId")
                guard let index = vectorIndex[id] else {
                    throw PMMLError("SupportVector refers to unknown vector '\(id)'", element: "SupportVector")
                }
                ids.append(index)
            }
            let expected = node.usesCoefficients ? node.dimension : ids.count
            guard node.machineCoefficients.last!.count == expected else {
                throw PMMLError(
                    "SupportVectorMachine has \(node.machineCoefficients.last!.count) coefficients for "
                        + "\(expected) vectors", element: "SupportVectorMachine")
            }
            node.machineVectors.append(ids)
            node.machineThreshold.append(try machine.double("threshold") ?? threshold)
            if node.function == .classification {
                node.machineTarget.append(try context.categoryIndex(node, try machine.required("targetCategory")))
                if let alternate = machine.attribute("alternateTargetCategory") {
                    node.machineAlternate.append(try context.categoryIndex(node, alternate))
                } else {
                    guard !node.oneAgainstOne || node.categories.count != 2 else {
                        throw PMMLError(
                            "a binary SupportVectorMachine lacks alternateTargetCategory",
                            element: "SupportVectorMachine")
                    }
                    node.machineAlternate.append(-1)
                }
            }
        }
        guard !machines.isEmpty else {
            throw PMMLError(
                "SupportVectorMachineModel without a SupportVectorMachine", element: "SupportVectorMachineModel")
        }
        node.scratchBase = context.compiler.allocateDoubles(node.dimension + node.vectorCount)
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let x = scratch.doubles + scratchBase
        for index in 0..<dimension {
            let value = try scratch.fetch(fieldSlots[index])
            if value.isMissing { return setMissing(scratch) }
            if let category = fieldCategories[index] {
                x[index] =
                    (value.tag == category.tag ? value.same(category) : Comparison.equal(value, category, scratch))
                    ? 1 : 0
            } else {
                guard let number = value.tag == .number ? value.num : scratch.number(of: value) else {
                    return setMissing(scratch)
                }
                x[index] = number
            }
        }
        let k = x + dimension
        if !usesCoefficients {
            vectors.withUnsafeBufferPointer { v in
                for vector in 0..<vectorCount { k[vector] = kernelValue(x, v.baseAddress! + vector * dimension) }
            }
        }
        func decision(_ machine: Int) -> Double {
            var f = machineBias[machine]
            let coefficients = machineCoefficients[machine]
            if usesCoefficients {
                for index in 0..<dimension { f += coefficients[index] * x[index] }
            } else {
                let ids = machineVectors[machine]
                for index in ids.indices { f += coefficients[index] * k[ids[index]] }
            }
            return f
        }
        if function == .regression {
            scratch.results[resultIndex] = ModelResult(value: .number(decision(0)))
            return
        }
        let p = scratch.doubles + probabilityBase
        for category in categories.indices { p[category] = 0 }
        if oneAgainstOne || categories.count == 2 && machineVectors.count == 1 {
            for machine in machineVectors.indices {
                let f = decision(machine)
                let winner = f < machineThreshold[machine] ? machineTarget[machine] : machineAlternate[machine]
                if winner >= 0 { p[winner] += 1 }
            }
            let total = Double(machineVectors.count)
            for category in categories.indices { p[category] /= total }
            finishClassification(scratch)
        } else {
            var best = -1
            var bestValue = 0.0
            for machine in machineVectors.indices {
                let f = decision(machine)
                if best < 0 || (maxWins ? f > bestValue : f < bestValue) {
                    best = machine
                    bestValue = f
                }
            }
            let category = machineTarget[best]
            scratch.results[resultIndex] = ModelResult(value: categories[category], category: Int32(category))
        }
    }

    private func kernelValue(_ x: UnsafeMutablePointer<Double>, _ v: UnsafePointer<Double>) -> Double {
        switch kernel {
        case .linear:
            var dot = 0.0
            for i in 0..<dimension { dot += x[i] * v[i] }
            return dot
        case .polynomial(let gamma, let coef0, let degree):
            var dot = 0.0
            for i in 0..<dimension { dot += x[i] * v[i] }
            return Glibc.pow(gamma * dot + coef0, degree)
        case .radialBasis(let gamma):
            var sum = 0.0
            for i in 0..<dimension {
                let d = x[i] - v[i]
                sum += d * d
            }
            return Glibc.exp(-gamma * sum)
        case .sigmoid(let gamma, let coef0):
            var dot = 0.0
            for i in 0..<dimension { dot += x[i] * v[i] }
            return Glibc.tanh(gamma * dot + coef0)
        }
    }
}

extension ArrayParser {
    /// Numbers of an `INT-Array`/`REAL-Array`-like element, skipping anything unparsable.
    static func numbersLoose(_ element: XMLElement) -> [Double] {
        element.text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
            .compactMap { parseDouble(String($0)) }
    }
}

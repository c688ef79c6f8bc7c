// NeuralNetwork: inputs are compiled expressions; neurons are laid out in one activation array with
// connections flattened into (source index, weight) lists, so a row is a few tight loops. Outputs map
// neurons to the target: NormDiscrete gives a class probability, FieldRef the value, NormContinuous the
// value after inverting the normalisation. Radial-basis networks are refused. The weights are read from
// an immutable `NeuralPlan` while scoring.

#if canImport(Glibc)
    import Glibc
#endif

final class NeuralNetworkNode: ModelNode {
    enum Activation: String {
        case threshold, logistic, tanh, identity, exponential, reciprocal, square, Gauss, sine, cosine, Elliott
        case arctan, rectifier
    }

    struct Layer {
        var activation: Activation
        var threshold: Double
        var normalization: Normalization
        var first: Int
        var count: Int
    }

    /// Held as `TypedExpr` (a struct) so that each closure is called directly, not through a thunk.
    var inputs: [TypedExpr] = []
    var activationBase = 0
    var neuronCount = 0
    var bias: [Double] = []
    var connectionStart: [Int32] = [0]
    var sources: [Int32] = []
    var weights: [Double] = []
    var layers: [Layer] = []
    /// Regression: the output neuron and the inverse of its normalisation (orig/norm breakpoints).
    var regressionNeuron = -1
    var inverseOrig: [Double] = []
    var inverseNorm: [Double] = []
    /// Classification: output neuron per category.
    var categoryNeuron: [Int] = []
    /// The weight tables in scoring form, built once the network is compiled.
    private(set) var plan: NeuralPlan!

    static func compile(_ context: ModelContext) throws(PMMLError) -> ModelNode {
        let element = context.element
        let node = NeuralNetworkNode(element: "NeuralNetwork", function: context.function)
        guard node.function != .clustering else {
            throw .unsupported(
                "NeuralNetwork", attribute: "functionName",
                value: "clustering")
        }
        var labels: [String] = []
        let outputs = element.child("NeuralOutputs")?.children("NeuralOutput") ?? []
        for output in outputs {
            if let discrete = output.child("DerivedField")?.child("NormDiscrete"),
                let value = discrete.attribute("value")
            {
                labels.append(value)
            }
        }
        try context.setUp(node, modelLabels: labels)
        var index: [String: Int] = [:]
        guard let inputElements = element.child("NeuralInputs")?.children("NeuralInput") else {
            throw PMMLError("NeuralNetwork without NeuralInputs", element: "NeuralNetwork")
        }
        for input in inputElements {
            guard let derived = input.child("DerivedField"),
                let body = derived.children.first(where: { ExpressionCompiler.expressionElements.contains($0.name) })
            else {
                throw PMMLError("NeuralInput without a DerivedField expression", element: "NeuralInput")
            }
            let compiled = try ExpressionCompiler(compiler: context.compiler, scope: context.scope).compile(body)
            index[try input.required("id")] = node.inputs.count
            node.inputs.append(compiled)
        }
        var position = node.inputs.count
        let defaultActivation = try element.required("activationFunction")
        let defaultThreshold = try element.double("threshold", default: 0)
        let defaultNormalization = element.attribute("normalizationMethod") ?? "none"
        for layerElement in element.children("NeuralLayer") {
            let name = layerElement.attribute("activationFunction") ?? defaultActivation
            guard let activation = Activation(rawValue: name) else {
                throw .unsupported("NeuralLayer", attribute: "activationFunction", value: name)
            }
            let normalizationName = layerElement.attribute("normalizationMethod") ?? defaultNormalization
            guard let normalization = Normalization(rawValue: normalizationName),
                [.none, .softmax, .simplemax].contains(normalization)
            else {
                throw .unsupported("NeuralLayer", attribute: "normalizationMethod", value: normalizationName)
            }
            let neurons = layerElement.children("Neuron")
            var layer = Layer(
                activation: activation, threshold: try layerElement.double("threshold") ?? defaultThreshold,
                normalization: normalization, first: position, count: neurons.count)
            for neuron in neurons {
                node.bias.append(try neuron.double("bias", default: 0))
                for connection in neuron.children("Con") {
                    let from = try connection.required("from")
                    guard let source = index[from] else {
                        throw PMMLError("Con refers to unknown neuron '\(from)'", element: "Con")
                    }
                    node.sources.append(Int32(source))
                    node.weights.append(try connection.requiredDouble("weight"))
                }
                node.connectionStart.append(Int32(node.sources.count))
                index[try neuron.required("id")] = position
                position += 1
            }
            layer.first = layer.first - node.inputs.count
            node.layers.append(layer)
        }
        node.neuronCount = position
        node.activationBase = context.compiler.allocateDoubles(position)
        node.categoryNeuron = [Int](repeating: -1, count: node.categories.count)
        for output in outputs {
            let neuronId = try output.required("outputNeuron")
            guard let neuron = index[neuronId] else {
                throw PMMLError("NeuralOutput refers to unknown neuron '\(neuronId)'", element: "NeuralOutput")
            }
            guard let derived = output.child("DerivedField"),
                let body = derived.children.first(where: { ExpressionCompiler.expressionElements.contains($0.name) })
            else {
                throw PMMLError("NeuralOutput without a DerivedField", element: "NeuralOutput")
            }
            switch body.name {
            case "NormDiscrete" where node.function == .classification:
                node.categoryNeuron[try context.categoryIndex(node, try body.required("value"))] = neuron
            case "FieldRef" where node.function == .regression:
                node.regressionNeuron = neuron
            case "NormContinuous" where node.function == .regression:
                node.regressionNeuron = neuron
                var points: [(Double, Double)] = []
                for item in body.children("LinearNorm") {
                    points.append((try item.requiredDouble("orig"), try item.requiredDouble("norm")))
                }
                points.sort { $0.1 < $1.1 }
                node.inverseOrig = points.map(\.0)
                node.inverseNorm = points.map(\.1)
            default:
                throw PMMLError("unsupported NeuralOutput mapping '\(body.name)'", element: body.name)
            }
        }
        if node.function == .regression && node.regressionNeuron < 0 {
            throw PMMLError("NeuralNetwork has no output for its target", element: "NeuralOutputs")
        }
        if node.function == .classification && !node.categoryNeuron.contains(where: { $0 >= 0 }) {
            throw PMMLError("NeuralNetwork has no output for any category", element: "NeuralOutputs")
        }
        node.plan = NeuralPlan(node)
        return node
    }

    override func predict(_ scratch: Scratch) throws(PMMLError) {
        let plan = plan!
        let a = scratch.doubles + activationBase
        for index in plan.inputSlots.indices {
            let slot = plan.inputSlots[index]
            let value = slot >= 0 ? try scratch.fetch(slot) : try inputs[index].expr(scratch)
            guard let x = value.tag == .number ? value.num : scratch.number(of: value) else {
                setMissing(scratch)
                return
            }
            a[index] = x
        }
        let offset = plan.inputCount
        for layer in plan.layers {
            var neuron = layer.first
            let end = layer.first + layer.count
            while neuron < end {
                if plan.blockStart[neuron] {
                    plan.fourNeurons(neuron, a) { z in activate(layer.activation, z, layer.threshold) }
                    neuron += 4
                } else {
                    a[offset + neuron] = activate(layer.activation, plan.neuron(neuron, a), layer.threshold)
                    neuron += 1
                }
            }
            let range = (offset + layer.first)..<(offset + layer.first + layer.count)
            switch layer.normalization {
            case .softmax:
                var sum = 0.0
                for i in range { a[i] = Glibc.exp(a[i]); sum += a[i] }
                for i in range { a[i] /= sum }
            case .simplemax:
                var sum = 0.0
                for i in range { sum += a[i] }
                for i in range { a[i] /= sum }
            default: break
            }
        }
        if function == .regression {
            var y = a[regressionNeuron]
            if !inverseNorm.isEmpty { y = invert(y) }
            scratch.results[resultIndex] = ModelResult(value: .number(y))
            return
        }
        for category in plan.categoryNeuron.indices {
            // A declared category without an output neuron (e.g. a placeholder value) gets probability 0.
            let neuron = plan.categoryNeuron[category]
            scratch.doubles[probabilityBase + category] = neuron >= 0 ? a[neuron] : 0
        }
        finishClassification(scratch)
    }

    private func invert(_ y: Double) -> Double {
        let last = inverseNorm.count - 1
        var segment = 0
        if y > inverseNorm[last] {
            segment = last - 1
        } else {
            while segment < last - 1 && y > inverseNorm[segment + 1] { segment += 1 }
        }
        let (n0, n1, o0, o1) = (
            inverseNorm[segment], inverseNorm[segment + 1], inverseOrig[segment],
            inverseOrig[segment + 1]
        )
        return o0 + (y - n0) / (n1 - n0) * (o1 - o0)
    }

    private func activate(_ function: Activation, _ z: Double, _ threshold: Double) -> Double {
        switch function {
        case .threshold: return z > threshold ? 1 : 0
        case .logistic: return 1 / (1 + Glibc.exp(-z))
        case .tanh: return Glibc.tanh(z)
        case .identity: return z
        case .exponential: return Glibc.exp(z)
        case .reciprocal: return 1 / z
        case .square: return z * z
        case .Gauss: return Glibc.exp(-(z * z))
        case .sine: return Glibc.sin(z)
        case .cosine: return Glibc.cos(z)
        case .Elliott: return z / (1 + Swift.abs(z))
        case .arctan: return 2 * Glibc.atan(z) / Double.pi
        case .rectifier: return Swift.max(0, z)
        }
    }
}

// The scoring form of a NeuralNetwork's connections, built once after compilation.

/// A network's weights as immutable buffers. A neuron whose inputs are a contiguous run of activations
/// (a dense layer) is summed without the source indirection, and four such neurons reading the same run
/// are summed together, each in its own accumulator and in connection order, so every sum is the same
/// sequence of additions as the one-neuron loop.
final class NeuralPlan {
    let bias: UnsafeMutableBufferPointer<Double>
    let starts: UnsafeMutableBufferPointer<Int32>
    let weights: UnsafeMutableBufferPointer<Double>
    let sources: UnsafeMutableBufferPointer<Int32>
    /// First source activation of each neuron whose sources are contiguous, else -1.
    let spanStart: UnsafeMutableBufferPointer<Int32>
    /// True where this neuron and the next three in its layer share one contiguous span.
    let blockStart: UnsafeMutableBufferPointer<Bool>
    /// The slot of each input that is a plain field reference, else -1.
    let inputSlots: [Int32]
    /// Neuron activations follow the inputs in the activation region.
    let inputCount: Int
    /// The network's layers and class outputs, as constants.
    let layers: [NeuralNetworkNode.Layer]
    let categoryNeuron: [Int]

    init(_ network: NeuralNetworkNode) {
        func buffer<T>(_ values: [T]) -> UnsafeMutableBufferPointer<T> {
            let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(values.count, 1))
            _ = buffer.initialize(from: values)
            return buffer
        }
        let starts = network.connectionStart
        let sources = network.sources
        var spans: [Int32] = []
        for neuron in 0..<(starts.count - 1) {
            let range = Int(starts[neuron])..<Int(starts[neuron + 1])
            let first = range.isEmpty ? 0 : sources[range.lowerBound]
            let contiguous = range.indices.allSatisfy { sources[$0] == first + Int32($0 - range.lowerBound) }
            spans.append(contiguous ? first : -1)
        }
        var blocks = [Bool](repeating: false, count: spans.count)
        for layer in network.layers {
            var neuron = layer.first
            while neuron + 4 <= layer.first + layer.count {
                let length = starts[neuron + 1] - starts[neuron]
                // The span must end before the block's own activations, which the block writes.
                let same =
                    (neuron..<(neuron + 4)).allSatisfy {
                        spans[$0] >= 0 && spans[$0] == spans[neuron] && starts[$0 + 1] - starts[$0] == length
                    } && Int(spans[neuron]) + Int(length) <= network.inputs.count + neuron
                if same {
                    blocks[neuron] = true
                    neuron += 4
                } else {
                    neuron += 1
                }
            }
        }
        bias = buffer(network.bias)
        self.starts = buffer(starts)
        weights = buffer(network.weights)
        self.sources = buffer(sources)
        spanStart = buffer(spans)
        blockStart = buffer(blocks)
        inputSlots = network.inputs.map { $0.slot ?? -1 }
        inputCount = network.inputs.count
        layers = network.layers
        categoryNeuron = network.categoryNeuron
    }

    deinit {
        bias.deallocate()
        starts.deallocate()
        weights.deallocate()
        sources.deallocate()
        spanStart.deallocate()
        blockStart.deallocate()
    }

    /// The weighted input of one neuron: its bias plus each connection, in order.
    @inline(__always)
    func neuron(_ neuron: Int, _ a: UnsafeMutablePointer<Double>) -> Double {
        var z = bias[neuron]
        let first = Int(starts[neuron]), end = Int(starts[neuron + 1])
        let span = spanStart[neuron]
        if span >= 0 {
            let x = a + Int(span)
            let w = weights.baseAddress! + first
            for j in 0..<(end - first) { z += w[j] * x[j] }
        } else {
            for connection in first..<end { z += weights[connection] * a[Int(sources[connection])] }
        }
        return z
    }

    /// Neurons `neuron ..< neuron + 4` (a block, see `blockStart`), activated and stored after the inputs.
    @inline(__always)
    func fourNeurons(_ neuron: Int, _ a: UnsafeMutablePointer<Double>, _ activate: (Double) -> Double) {
        var (z0, z1, z2, z3) = (bias[neuron], bias[neuron + 1], bias[neuron + 2], bias[neuron + 3])
        let length = Int(starts[neuron + 1] - starts[neuron])
        let w0 = weights.baseAddress! + Int(starts[neuron])
        let w1 = weights.baseAddress! + Int(starts[neuron + 1])
        let w2 = weights.baseAddress! + Int(starts[neuron + 2])
        let w3 = weights.baseAddress! + Int(starts[neuron + 3])
        let x = a + Int(spanStart[neuron])
        for j in 0..<length {
            let input = x[j]
            z0 += w0[j] * input
            z1 += w1[j] * input
            z2 += w2[j] * input
            z3 += w3[j] * input
        }
        a[inputCount + neuron] = activate(z0)
        a[inputCount + neuron + 1] = activate(z1)
        a[inputCount + neuron + 2] = activate(z2)
        a[inputCount + neuron + 3] = activate(z3)
    }
}

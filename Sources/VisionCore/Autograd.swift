/// Define-by-run reverse-mode automatic differentiation.
///
/// Every differentiable operation, when gradients are enabled and one of its inputs requires them,
/// attaches a `Node` to its output. The node's closure receives the output's gradient and
/// *accumulates* (`+=`) into its inputs' gradients, so a tensor used on several paths receives the
/// sum. `backward()` orders the graph topologically and runs the closures in reverse, then drops the
/// graph so its memory is released.
final class Node {
    let inputs: [Tensor]
    let backward: (Tensor) -> Void

    init(inputs: [Tensor], backward: @escaping (Tensor) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Global autograd switches. Training runs on one thread; data workers never record graphs.
public enum Autograd {
    nonisolated(unsafe) static var disabledDepth = 0

    /// Whether new operations record graph nodes.
    public static var isEnabled: Bool { disabledDepth == 0 }

    /// Runs `body` without recording any graph (inference, optimizer updates, metrics).
    @discardableResult
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        disabledDepth += 1
        defer { disabledDepth -= 1 }
        return try body()
    }
}

extension Tensor {
    /// Whether an operation over `inputs` should record a node.
    static func shouldRecord(_ inputs: [Tensor]) -> Bool {
        Autograd.isEnabled && inputs.contains { $0.requiresGrad }
    }

    /// Builds an op's output and, when recording, attaches the backward closure.
    /// The closure gets the gradient of the output and must call `accumulateGrad` on the inputs.
    public static func record(shape: [Int], storage: [Float], inputs: [Tensor],
                              backward: @escaping (Tensor) -> Void) -> Tensor {
        let out = Tensor(shape: shape, storage: storage)
        if shouldRecord(inputs) {
            out.requiresGrad = true
            out.gradFn = Node(inputs: inputs, backward: backward)
        }
        return out
    }

    /// Adds `gradient` into `grad` (creating it on first use). No-op when this tensor does not require grad.
    public func accumulateGrad(_ gradient: Tensor) {
        guard requiresGrad else { return }
        precondition(gradient.shape == shape, "gradient shape \(gradient.shape) does not match tensor shape \(shape)")
        accumulateGrad(storage: gradient.storage)
    }

    /// Adds raw gradient values (same element count as the tensor) into `grad`.
    public func accumulateGrad(storage gradient: [Float]) {
        guard requiresGrad else { return }
        precondition(gradient.count == count, "gradient of \(gradient.count) elements for shape \(shape)")
        if let existing = grad {
            existing.storage.withUnsafeMutableBufferPointer { dst in
                gradient.withUnsafeBufferPointer { src in
                    for i in 0..<dst.count { dst[i] += src[i] }
                }
            }
        } else {
            // Shares the array copy-on-write; a later += copies before writing.
            grad = Tensor(shape: shape, storage: gradient)
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Back-propagates from this tensor. With no argument the tensor must hold one element (a loss)
    /// and its gradient is taken as 1. Gradients accumulate into every leaf that requires them; the
    /// graph is released afterwards and intermediate gradients are dropped.
    public func backward(_ gradient: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a tensor that does not require grad (shape \(shape))")
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward gradient \(gradient.shape) vs tensor \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward() without a gradient needs a scalar, got shape \(shape)")
            seed = Tensor.ones(shape)
        }

        // Topological order by iterative depth-first search.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            if visited.contains(ObjectIdentifier(tensor)) { continue }
            visited.insert(ObjectIdentifier(tensor))
            stack.append((tensor, true))
            if let node = tensor.gradFn {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }

        accumulateGrad(seed)
        Autograd.noGrad {
            for tensor in order.reversed() {
                guard let node = tensor.gradFn else { continue }
                tensor.gradFn = nil
                if let g = tensor.grad {
                    node.backward(g)
                }
                tensor.grad = nil  // intermediate gradients are not retained
            }
        }
    }
}

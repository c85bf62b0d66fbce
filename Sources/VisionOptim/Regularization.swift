import Foundation
import VisionCore

// MARK: - Parameter-norm penalties (loss terms)

/// `coefficient · Σ|θ|` over every element of `parameters`, as a scalar tensor on the autograd tape.
///
/// A loss term, distinct from optimizer weight decay: add it to the loss before `backward()`.
/// The gradient is `coefficient · sign(θ)` (0 at θ = 0). One graph node for all parameters.
public func l1Penalty(_ parameters: [Tensor], coefficient: Float = 1) -> Tensor {
    normPenalty(parameters, coefficient: coefficient, value: { Swift.abs($0) },
                derivative: { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
}

/// `coefficient/2 · Σθ²` over every element of `parameters`, as a scalar tensor on the autograd tape.
///
/// The gradient is `coefficient · θ`, so with plain SGD this term equals L2 weight decay
/// `weightDecay = coefficient`. One graph node for all parameters.
public func l2Penalty(_ parameters: [Tensor], coefficient: Float = 1) -> Tensor {
    normPenalty(parameters, coefficient: coefficient, value: { 0.5 * $0 * $0 }, derivative: { $0 })
}

/// `l1Penalty` over the parameters of the chosen groups.
public func l1Penalty(groups: [ParameterGroup], coefficient: Float = 1) -> Tensor {
    l1Penalty(groups.flatMap(\.parameters), coefficient: coefficient)
}

/// `l2Penalty` over the parameters of the chosen groups.
public func l2Penalty(groups: [ParameterGroup], coefficient: Float = 1) -> Tensor {
    l2Penalty(groups.flatMap(\.parameters), coefficient: coefficient)
}

/// `coefficient · Σ value(θ)` with gradient `coefficient · derivative(θ)`, summed in Double.
private func normPenalty(_ parameters: [Tensor], coefficient: Float, value: @escaping (Float) -> Float,
                         derivative: @escaping (Float) -> Float) -> Tensor {
    var total = 0.0
    for parameter in parameters {
        parameter.withUnsafeBufferPointer { x in
            for v in x { total += Double(value(v)) }
        }
    }
    return Tensor.record(shape: [], storage: [Float(Double(coefficient) * total)], inputs: parameters) { g in
        let scale = g.storage[0] * coefficient
        for parameter in parameters where parameter.requiresGrad {
            parameter.accumulateGrad(storage: parameter.map { scale * derivative($0) })
        }
    }
}

// MARK: - Gradient clipping

/// Scales all gradients together so their global norm is at most `maxNorm` (PyTorch `clip_grad_norm_`).
///
/// The total norm is `(Σ‖gᵢ‖ₚ^p)^(1/p)` over every element of every gradient (`p = .infinity`
/// gives the largest magnitude). When it exceeds `maxNorm`, gradients are multiplied by
/// `maxNorm / (norm + 1e-6)`. Parameters without a gradient are skipped.
/// - Returns: the total norm before clipping (for logging; non-finite when a gradient is).
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float, normType: Float = 2) -> Float {
    precondition(maxNorm >= 0, "maxNorm must be non-negative, got \(maxNorm)")
    precondition(normType > 0, "normType must be positive, got \(normType)")
    let gradients = parameters.compactMap(\.grad)
    var norm = 0.0
    if normType.isInfinite {
        for gradient in gradients {
            gradient.withUnsafeBufferPointer { g in
                for v in g {
                    let magnitude = Double(Swift.abs(v))
                    if magnitude > norm || magnitude.isNaN { norm = magnitude }
                }
            }
        }
    } else {
        let p = Double(normType)
        for gradient in gradients {
            gradient.withUnsafeBufferPointer { g in
                if p == 2 {
                    for v in g { norm += Double(v) * Double(v) }
                } else {
                    for v in g { norm += Foundation.pow(Double(Swift.abs(v)), p) }
                }
            }
        }
        norm = Foundation.pow(norm, 1 / p)
    }
    let coefficient = Float(Double(maxNorm) / (norm + 1e-6))
    if coefficient < 1 || !norm.isFinite {
        for gradient in gradients {
            gradient.withUnsafeMutableBufferPointer { g in
                for i in 0..<g.count { g[i] *= coefficient }
            }
        }
    }
    return Float(norm)
}

/// Clamps every gradient element into `[-limit, limit]` (PyTorch `clip_grad_value_`).
public func clipGradientValues(_ parameters: [Tensor], limit: Float) {
    precondition(limit >= 0, "limit must be non-negative, got \(limit)")
    for parameter in parameters {
        parameter.grad?.withUnsafeMutableBufferPointer { g in
            for i in 0..<g.count { g[i] = Swift.min(Swift.max(g[i], -limit), limit) }
        }
    }
}

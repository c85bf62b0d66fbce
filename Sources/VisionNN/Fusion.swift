import VisionCore

// Inference fusion: a convolution followed by a batch-norm in eval mode (and optionally a residual sum
// and a ReLU) runs as one `fusedConv2d` pass — the batch-norm folded into a per-channel scale and
// shift — instead of three or four passes over the activations. Used only where it cannot change what
// anyone sees: eval mode, no graph being recorded, and none of the modules capturing its output.

/// Whether `convBatchNorm` fuses at all (on by default; off for measuring what fusion saves).
public enum InferenceFusion {
    nonisolated(unsafe) public static var enabled = true
}

extension BatchNorm2d {
    /// The eval-mode batch-norm as `x·scale + shift` per channel: scale = γ/√(running var + ε),
    /// shift = β − running mean·scale.
    public var foldedScaleShift: (scale: [Float], shift: [Float]) {
        let gamma = weight.storage, beta = bias.storage, mean = runningMean.storage, variance = runningVar.storage
        var scale = [Float](repeating: 0, count: numFeatures), shift = scale
        for c in 0..<numFeatures {
            scale[c] = gamma[c] / (variance[c] + eps).squareRoot()
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        return (scale, shift)
    }
}

/// `relu?(bn(conv(x)) + residual)`: one fused pass where that cannot change the result beyond float
/// rounding or anything observable (see above) and the residual has the output's shape, the separate
/// modules otherwise (where the residual may broadcast). `relu` is the module
/// applied last (so that capturing its output works either way).
public func convBatchNorm(_ x: Tensor, _ conv: Conv2d, _ bn: BatchNorm2d, residual: Tensor? = nil,
                          relu: ReLU? = nil) -> Tensor {
    let modules: [Module] = [conv, bn] + (relu.map { [$0] } ?? [])
    // Everything a graph would start from: a frozen convolution under a trainable batch-norm still records.
    let tensors = [x] + modules.flatMap { $0.parameters() } + (residual.map { [$0] } ?? [])
    let fusable = InferenceFusion.enabled && !bn.isTraining && bn.numFeatures == conv.outChannels
        && x.rank == 4 && x.shape[1] == conv.inChannels
        && (residual.map { $0.shape == outputShape(of: conv, for: x) } ?? true)
        && !(Autograd.isEnabled && tensors.contains { $0.requiresGrad })
        && !modules.contains { $0.isCapturingOutput }
    guard fusable else {
        var y = bn(conv(x))
        if let residual { y = y + residual }
        return relu.map { $0(y) } ?? y
    }
    var (scale, shift) = bn.foldedScaleShift
    if let bias = conv.bias?.storage {
        for c in 0..<shift.count { shift[c] += bias[c] * scale[c] }
    }
    return fusedConv2d(x, weight: conv.weight, scale: scale, shift: shift, residual: residual, relu: relu != nil,
                       stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.groups)
}

/// The shape `conv(x)` has (x already checked to be `[N, inChannels, H, W]`).
private func outputShape(of conv: Conv2d, for x: Tensor) -> [Int] {
    let height = ConvolutionGeometry.outputExtent(input: x.shape[2], kernel: conv.kernelSize.0, stride: conv.stride.0,
                                                  padding: conv.padding.0, dilation: conv.dilation.0)
    let width = ConvolutionGeometry.outputExtent(input: x.shape[3], kernel: conv.kernelSize.1, stride: conv.stride.1,
                                                 padding: conv.padding.1, dilation: conv.dilation.1)
    return [x.shape[0], conv.outChannels, height, width]
}

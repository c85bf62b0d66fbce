// 2-D convolution and transposed convolution, their fused inference form and their gradients in the graph.
// The products run in ConvolutionEngine.swift (packed AVX-512 / AVX2 kernels where the CPU has them, else
// im2col + OpenBLAS); the choice between the paths is ConvolutionTuning.swift's.
import CKernels

/// 2-D convolution (cross-correlation, as PyTorch's `conv2d`).
///
/// `y[n, k, oh, ow] = bias[k] + Σ_{c, i, j} w[k, c, i, j] · x[n, g·C/G + c, oh·S − P + i·D, ow·S − P + j·D]`
/// where `g` is the group of output channel `k` and samples outside the input are 0.
/// - Parameters:
///   - x: input `[N, C, H, W]`.
///   - weight: `[K, C/groups, kh, kw]`.
///   - bias: optional `[K]`.
/// - Returns: `[N, K, OH, OW]` with `O = floor((I + 2P − D·(k − 1) − 1) / S) + 1` per axis.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let geometry = convolutionGeometry(x, weight: weight, bias: bias, stride: stride, padding: padding,
                                       dilation: dilation, groups: groups)
    let (batch, outChannels) = (x.shape[0], weight.shape[0])
    let plane = geometry.outputPlane
    let count = batch * outChannels * plane
    let outShape = [batch, outChannels, geometry.outputHeight, geometry.outputWidth]
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    if count == 0 { return Tensor.record(shape: outShape, storage: [], inputs: inputs) { _ in } }
    let xs = x.storage, ws = weight.storage, bs = bias?.storage
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        xs.withUnsafeBufferPointer { px in
            ws.withUnsafeBufferPointer { pw in
                ConvolutionEngine.forward(input: px.baseAddress!, batch: batch, geometry: geometry, weight: pw.baseAddress!,
                                          outChannels: outChannels, groups: groups, output: buffer.baseAddress!)
            }
        }
        if let bs { ConvolutionEngine.addBias(bs, to: buffer.baseAddress!, batch: batch, plane: plane) }
        initialized = count
    }
    return Tensor.record(shape: outShape, storage: output, inputs: inputs) { g in
        var gradInput = x.requiresGrad ? ConvolutionEngine.zeros(xs.count) : []
        var gradWeight = weight.requiresGrad ? [Float](repeating: 0, count: ws.count) : []
        if x.requiresGrad || weight.requiresGrad {
            g.storage.withUnsafeBufferPointer { dy in
                xs.withUnsafeBufferPointer { px in
                    ws.withUnsafeBufferPointer { pw in
                        gradInput.withUnsafeMutableBufferPointer { dx in
                            gradWeight.withUnsafeMutableBufferPointer { dw in
                                ConvolutionEngine.backward(
                                    gradOutput: dy.baseAddress!, input: px.baseAddress!, batch: batch, geometry: geometry,
                                    weight: pw.baseAddress!, outChannels: outChannels, groups: groups,
                                    gradInput: x.requiresGrad ? dx.baseAddress! : nil,
                                    gradWeight: weight.requiresGrad ? dw.baseAddress! : nil)
                            }
                        }
                    }
                }
            }
        }
        if x.requiresGrad { x.accumulateGrad(storage: gradInput) }
        if weight.requiresGrad { weight.accumulateGrad(storage: gradWeight) }
        if let bias, bias.requiresGrad {
            bias.accumulateGrad(storage: ConvolutionEngine.biasGradient(g.storage, batch: batch,
                                                                         channels: outChannels, plane: plane))
        }
    }
}

/// Inference with a convolution's per-channel epilogue fused in: `relu?(conv2d(x, weight)·scale[k] + shift[k]
/// + residual)`, computed in the convolution's own pass over its output. A batch-norm in eval mode folds
/// into `scale = γ/√(var + ε)` and `shift = β − mean·scale` (plus the convolution's bias times `scale`).
/// `residual` has the output's shape. No graph is recorded: call it where none is (under
/// `Autograd.noGrad`, or with inputs that do not require grad). Without the packed kernels it runs as
/// the separate operations.
public func fusedConv2d(_ x: Tensor, weight: Tensor, scale: [Float]? = nil, shift: [Float]? = nil,
                        residual: Tensor? = nil, relu: Bool = false, stride: (Int, Int) = (1, 1),
                        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let geometry = convolutionGeometry(x, weight: weight, bias: nil, stride: stride, padding: padding,
                                       dilation: dilation, groups: groups)
    let (batch, outChannels) = (x.shape[0], weight.shape[0])
    let outShape = [batch, outChannels, geometry.outputHeight, geometry.outputWidth]
    precondition(!Tensor.shouldRecord([x, weight] + (residual.map { [$0] } ?? [])),
                 "fusedConv2d records no graph: call it under Autograd.noGrad or on tensors that do not require grad")
    for (name, values) in [("scale", scale), ("shift", shift)] {
        if let values { precondition(values.count == outChannels, "fusedConv2d: \(name) has \(values.count) values for \(outChannels) channels") }
    }
    if let residual { precondition(residual.shape == outShape, "fusedConv2d: residual \(residual.shape) for output \(outShape)") }
    guard ConvolutionTuning.usesPackedKernel else {
        var y = conv2d(x, weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
        if let scale { y = y * Tensor(scale, shape: [1, outChannels, 1, 1]) }
        if let shift { y = y + Tensor(shift, shape: [1, outChannels, 1, 1]) }
        if let residual { y = y + residual }
        return relu ? y.relu() : y
    }
    let count = batch * outChannels * geometry.outputPlane
    if count == 0 { return Tensor(shape: outShape, storage: []) }
    func pointer(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> Void) {
        guard let values else { return body(nil) }
        values.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
    let output = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        x.storage.withUnsafeBufferPointer { px in
            weight.storage.withUnsafeBufferPointer { pw in
                pointer(scale) { scale in
                    pointer(shift) { shift in
                        pointer(residual?.storage) { residual in
                            ConvolutionEngine.packedForward(
                                input: px.baseAddress!, batch: batch, geometry: geometry, weight: pw.baseAddress!,
                                outChannels: outChannels, groups: groups, output: buffer.baseAddress!,
                                epilogue: ck_epilogue(scale: scale, shift: shift, residual: residual, relu: relu ? 1 : 0))
                        }
                    }
                }
            }
        }
        initialized = count
    }
    return Tensor(shape: outShape, storage: output)
}

/// Checks the shapes of a `conv2d` call (preconditions naming them) and returns its geometry.
private func convolutionGeometry(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                                 dilation: (Int, Int), groups: Int) -> ConvolutionGeometry {
    precondition(x.rank == 4, "conv2d expects input [N, C, H, W], got \(x.shape)")
    precondition(weight.rank == 4, "conv2d expects weight [K, C/groups, kh, kw], got \(weight.shape)")
    let (channels, outChannels) = (x.shape[1], weight.shape[0])
    precondition(channels > 0 && outChannels > 0, "conv2d: input \(x.shape) and weight \(weight.shape) need channels")
    precondition(groups > 0 && channels % groups == 0 && outChannels % groups == 0,
                 "conv2d: input \(x.shape) and weight \(weight.shape) channels must be divisible by groups \(groups)")
    precondition(weight.shape[1] == channels / groups,
                 "conv2d: weight \(weight.shape) expects \(weight.shape[1] * groups) input channels (groups \(groups)), input is \(x.shape)")
    if let bias { precondition(bias.shape == [outChannels], "conv2d: bias \(bias.shape) does not match weight \(weight.shape)") }
    let kernel = (weight.shape[2], weight.shape[3])
    precondition(ConvolutionGeometry.outputExtent(input: x.shape[2], kernel: kernel.0, stride: max(stride.0, 1),
                                                  padding: padding.0, dilation: dilation.0) > 0
                 && ConvolutionGeometry.outputExtent(input: x.shape[3], kernel: kernel.1, stride: max(stride.1, 1),
                                                     padding: padding.1, dilation: dilation.1) > 0,
                 "conv2d: kernel of weight \(weight.shape) with dilation \(dilation) is larger than input \(x.shape) padded by \(padding)")
    return ConvolutionGeometry(channels: channels, height: x.shape[2], width: x.shape[3], kernelSize: kernel,
                               stride: stride, padding: padding, dilation: dilation)
}

/// 2-D transposed convolution (PyTorch's `conv_transpose2d`): the input gradient of `conv2d`.
///
/// Each input pixel `x[n, c, h, w]` scatters `x · w[c, k, i, j]` onto `y[n, k, h·S − P + i·D, w·S − P + j·D]`,
/// within groups, plus `bias[k]`.
/// - Parameters:
///   - x: input `[N, C, H, W]`.
///   - weight: `[C, K/groups, kh, kw]`, exactly as PyTorch stores it.
///   - bias: optional `[K]`.
///   - outputPadding: extra rows/columns on the bottom/right, smaller than stride or dilation.
/// - Returns: `[N, K, OH, OW]` with `O = (I − 1)·S − 2P + D·(k − 1) + outputPadding + 1` per axis.
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                            padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                            dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    precondition(x.rank == 4, "convTranspose2d expects input [N, C, H, W], got \(x.shape)")
    precondition(weight.rank == 4, "convTranspose2d expects weight [C, K/groups, kh, kw], got \(weight.shape)")
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(groups > 0 && channels % groups == 0,
                 "convTranspose2d: input \(x.shape) channels must be divisible by groups \(groups)")
    precondition(weight.shape[0] == channels,
                 "convTranspose2d: weight \(weight.shape) expects \(weight.shape[0]) input channels, input is \(x.shape)")
    let outChannels = weight.shape[1] * groups
    precondition(channels > 0 && outChannels > 0, "convTranspose2d: input \(x.shape) and weight \(weight.shape) need channels")
    if let bias { precondition(bias.shape == [outChannels], "convTranspose2d: bias \(bias.shape) does not match \(outChannels) output channels") }
    precondition(stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0,
                 "convTranspose2d: stride \(stride) and dilation \(dilation) must be positive")
    precondition(outputPadding.0 >= 0 && outputPadding.1 >= 0
                 && outputPadding.0 < max(stride.0, dilation.0) && outputPadding.1 < max(stride.1, dilation.1),
                 "convTranspose2d: output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
    let kernel = (weight.shape[2], weight.shape[3])
    let outHeight = (height - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kernel.0 - 1) + outputPadding.0 + 1
    let outWidth = (width - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kernel.1 - 1) + outputPadding.1 + 1
    precondition(outHeight > 0 && outWidth > 0,
                 "convTranspose2d: input \(x.shape) with weight \(weight.shape), padding \(padding) gives an empty output \(outHeight)×\(outWidth)")
    // The convolution this transposes maps y [K, OH, OW] to x [C, H, W].
    let geometry = ConvolutionGeometry(channels: outChannels, height: outHeight, width: outWidth, kernelSize: kernel,
                                       stride: stride, padding: padding, dilation: dilation, outputSize: (height, width))
    let plane = outHeight * outWidth
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    if batch == 0 { return Tensor.record(shape: [0, outChannels, outHeight, outWidth], storage: [], inputs: inputs) { _ in } }
    let xs = x.storage, ws = weight.storage
    var output = ConvolutionEngine.zeros(batch * outChannels * plane)
    output.withUnsafeMutableBufferPointer { y in
        xs.withUnsafeBufferPointer { px in
            ws.withUnsafeBufferPointer { pw in
                ConvolutionEngine.backward(gradOutput: px.baseAddress!, input: nil, batch: batch, geometry: geometry,
                                           weight: pw.baseAddress!, outChannels: channels, groups: groups,
                                           gradInput: y.baseAddress!, gradWeight: nil)
            }
        }
        if let bias { ConvolutionEngine.addBias(bias.storage, to: y.baseAddress!, batch: batch, plane: plane) }
    }
    return Tensor.record(shape: [batch, outChannels, outHeight, outWidth], storage: output, inputs: inputs) { g in
        g.storage.withUnsafeBufferPointer { dy in
            ws.withUnsafeBufferPointer { pw in
                if x.requiresGrad {
                    let gradInput = [Float](unsafeUninitializedCapacity: xs.count) { buffer, initialized in
                        ConvolutionEngine.forward(input: dy.baseAddress!, batch: batch, geometry: geometry,
                                                  weight: pw.baseAddress!, outChannels: channels, groups: groups,
                                                  output: buffer.baseAddress!)
                        initialized = xs.count
                    }
                    x.accumulateGrad(storage: gradInput)
                }
                if weight.requiresGrad {
                    var gradWeight = [Float](repeating: 0, count: ws.count)
                    xs.withUnsafeBufferPointer { px in
                        gradWeight.withUnsafeMutableBufferPointer { dw in
                            ConvolutionEngine.backward(gradOutput: px.baseAddress!, input: dy.baseAddress!, batch: batch,
                                                       geometry: geometry, weight: pw.baseAddress!, outChannels: channels,
                                                       groups: groups, gradInput: nil, gradWeight: dw.baseAddress!)
                        }
                    }
                    weight.accumulateGrad(storage: gradWeight)
                }
            }
        }
        if let bias, bias.requiresGrad {
            bias.accumulateGrad(storage: ConvolutionEngine.biasGradient(g.storage, batch: batch,
                                                                         channels: outChannels, plane: plane))
        }
    }
}

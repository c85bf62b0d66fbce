import Foundation
import TestSupport
import VisionCore
import VisionNN
import XCTest

/// Each layer is a thin shell over its functional op: same output, same gradients, parameters registered
/// under PyTorch's names.
final class LayerTests: XCTestCase {
    func input(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.normal(shape, generator: &g)
    }

    func testConv2dEqualsTheFunctionalOpAndRegistersWeightAndBias() {
        var g = SeededGenerator(seed: 2)
        let conv = Conv2d(4, 6, kernelSize: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2, generator: &g)
        XCTAssertEqual(conv.namedParameters().map(\.name), ["weight", "bias"])
        XCTAssertEqual(conv.weight.shape, [6, 2, 3, 2])
        XCTAssertEqual(conv.bias?.shape, [6])
        XCTAssertEqual(conv.parameterCount, 6 * 2 * 3 * 2 + 6)
        let x = input([2, 4, 5, 6])
        let expected = conv2d(x, weight: conv.weight, bias: conv.bias, stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2)
        assertClose(conv(x), expected, rtol: 0, atol: 0)
        // PyTorch's default init: U(−1/√fanIn, 1/√fanIn) with fanIn = 2·3·2.
        let bound = 1 / Float(12).squareRoot()
        XCTAssertTrue(conv.weight.storage.allSatisfy { abs($0) <= bound })
        XCTAssertTrue(conv.bias!.storage.allSatisfy { abs($0) <= bound })

        let noBias = Conv2d(3, 2, kernelSize: 1, bias: false, generator: &g)
        XCTAssertNil(noBias.bias)
        XCTAssertEqual(noBias.namedParameters().map(\.name), ["weight"])
        checkGradients([x.clone(), conv.weight]) { t in conv2d(t[0], weight: t[1], stride: (2, 1), padding: (1, 0), dilation: (1, 2), groups: 2) }
        x.requiresGrad = true
        conv(x).sum().backward()
        XCTAssertNotNil(conv.weight.grad)
        XCTAssertNotNil(conv.bias?.grad)
        XCTAssertEqual(x.grad?.shape, x.shape)
    }

    func testConvTranspose2dEqualsTheFunctionalOp() {
        var g = SeededGenerator(seed: 3)
        let up = ConvTranspose2d(4, 3, kernelSize: 2, stride: 2, generator: &g)
        XCTAssertEqual(up.weight.shape, [4, 3, 2, 2], "[in, out, kh, kw] as PyTorch")
        XCTAssertEqual(up.namedParameters().map(\.name), ["weight", "bias"])
        let x = input([1, 4, 3, 5])
        let y = up(x)
        XCTAssertEqual(y.shape, [1, 3, 6, 10])
        assertClose(y, convTranspose2d(x, weight: up.weight, bias: up.bias, stride: (2, 2)), rtol: 0, atol: 0)
        let padded = ConvTranspose2d(2, 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), generator: &g)
        XCTAssertEqual(padded(input([1, 2, 4, 4])).shape, [1, 2, 8, 8], "(I − 1)·S − 2P + K + outputPadding")
    }

    func testLinearEqualsXWTransposePlusB() {
        var g = SeededGenerator(seed: 4)
        let fc = Linear(3, 2, generator: &g)
        XCTAssertEqual(fc.weight.shape, [2, 3])
        XCTAssertEqual(fc.parameterCount, 8)
        let x = Tensor([1, 2, 3, -1, 0, 0.5], shape: [2, 3])
        let w = fc.weight.storage, b = fc.bias!.storage
        var expected = [Float]()
        for n in 0..<2 {
            for o in 0..<2 { expected.append((0..<3).reduce(b[o]) { $0 + x.storage[n * 3 + $1] * w[o * 3 + $1] }) }
        }
        assertClose(fc(x).storage, expected)
        assertClose(fc(x), linear(x, weight: fc.weight, bias: fc.bias), rtol: 0, atol: 0)
        XCTAssertNil(Linear(3, 2, bias: false, generator: &g).bias)
    }

    func testBatchNorm2dTrainingUsesBatchStatisticsAndUpdatesRunningOnes() {
        let bn = BatchNorm2d(2, momentum: 0.1)
        XCTAssertEqual(bn.namedParameters().map(\.name), ["weight", "bias"])
        XCTAssertEqual(bn.namedBuffers().map(\.name), ["running_mean", "running_var"])
        bn.weight.storage = [2, 0.5]
        bn.bias.storage = [1, -1]
        // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 holds 0, 0, 2, 2 (mean 1, var 1, unbiased 4/3).
        let x = Tensor([1, 2, 0, 0, 3, 4, 2, 2], shape: [2, 2, 1, 2])
        let y = bn(x)
        let reference = batchNorm2d(x, weight: Tensor([2, 0.5], shape: [2]), bias: Tensor([1, -1], shape: [2]),
                                    runningMean: nil, runningVar: nil, training: true)
        assertClose(y, reference)
        let s0 = 1 / (1.25 + 1e-5 as Float).squareRoot(), s1 = 1 / (1 + 1e-5 as Float).squareRoot()
        assertClose(y.storage, [1 + 2 * -1.5 * s0, 1 + 2 * -0.5 * s0, -1 - 0.5 * s1, -1 - 0.5 * s1,
                                1 + 2 * 0.5 * s0, 1 + 2 * 1.5 * s0, -1 + 0.5 * s1, -1 + 0.5 * s1], rtol: 1e-5, atol: 1e-5)
        assertClose(bn.runningMean.storage, [0.25, 0.1])
        assertClose(bn.runningVar.storage, [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 4 / 3])

        // Evaluation uses the running statistics and leaves them alone.
        bn.eval()
        let mean = bn.runningMean.storage, variance = bn.runningVar.storage
        let z = bn(x)
        XCTAssertEqual(bn.runningMean.storage, mean)
        XCTAssertEqual(bn.runningVar.storage, variance)
        for c in 0..<2 {
            for n in 0..<2 {
                for i in 0..<2 {
                    let k = (n * 2 + c) * 2 + i
                    let expected = (x.storage[k] - mean[c]) / (variance[c] + 1e-5).squareRoot() * bn.weight.storage[c] + bn.bias.storage[c]
                    XCTAssertEqual(z.storage[k], expected, accuracy: 1e-5)
                }
            }
        }
    }

    func testFrozenBatchNormStatisticsStayFixedInTrainingMode() {
        let bn = BatchNorm2d(3)
        bn.runningMean.storage = [0.5, -1, 2]
        bn.runningVar.storage = [1, 4, 0.25]
        bn.freezeStatistics = true
        bn.train()
        let x = input([4, 3, 2, 2])
        let y = bn(x)
        XCTAssertEqual(bn.runningMean.storage, [0.5, -1, 2])
        XCTAssertEqual(bn.runningVar.storage, [1, 4, 0.25])
        bn.eval()
        assertClose(y, bn(x), rtol: 0, atol: 0)
        // The affine parameters still learn.
        bn.train()
        bn(x).square().sum().backward()
        XCTAssertNotNil(bn.weight.grad)
    }

    func testDropoutIsTheIdentityInEvaluationAndScalesSurvivorsInTraining() {
        let drop = Dropout(p: 0.5, seed: 9)
        let x = Tensor.full([1000], 3)
        drop.eval()
        XCTAssertTrue(drop(x) === x, "evaluation returns the input itself")
        drop.train()
        let y = drop(x)
        XCTAssertTrue(y.storage.allSatisfy { $0 == 0 || $0 == 6 }, "survivors are scaled by 1/(1 − p)")
        let kept = y.storage.filter { $0 != 0 }.count
        XCTAssertTrue((400...600).contains(kept), "about half survive, got \(kept)")
        var g = SeededGenerator(seed: 9)
        assertClose(Dropout(p: 0.5, seed: 9)(x), dropout(x, p: 0.5, training: true, generator: &g), rtol: 0, atol: 0)
        XCTAssertTrue(drop.namedParameters().isEmpty)
    }

    func testGroupAndInstanceNormLayersEqualTheirOpsAndNameTheirParameters() {
        let y = input([2, 6, 4, 5])
        let group = GroupNorm(numGroups: 3, numChannels: 6)
        XCTAssertEqual(group.stateDict().map(\.name), ["weight", "bias"])
        group.weight!.storage = (0..<6).map { Float($0) * 0.5 - 1 }
        assertClose(group(y), groupNorm(y, groups: 3, weight: group.weight, bias: group.bias), rtol: 0, atol: 0)
        group.eval()
        assertClose(group(y), groupNorm(y, groups: 3, weight: group.weight, bias: group.bias), rtol: 0, atol: 0)
        XCTAssertTrue(GroupNorm(numGroups: 2, numChannels: 4, affine: false).stateDict().isEmpty)
        // PyTorch's InstanceNorm2d has no affine parameters unless asked.
        XCTAssertTrue(InstanceNorm2d(6).stateDict().isEmpty)
        assertClose(InstanceNorm2d(6)(y), groupNorm(y, groups: 6), rtol: 0, atol: 0)
        XCTAssertEqual(InstanceNorm2d(6, affine: true).stateDict().map(\.name), ["weight", "bias"])
        // An unbatched [C, H, W] map is normalised as a batch of one, and keeps its shape.
        let single = y.select(rows: [1]).reshape([6, 4, 5])
        let unbatched = InstanceNorm2d(6)(single)
        XCTAssertEqual(unbatched.shape, [6, 4, 5])
        assertClose(unbatched.storage, groupNorm(y, groups: 6).storage.suffix(120).map { $0 }, rtol: 0, atol: 0)
        XCTAssertEqual(InstanceNorm2d(6, affine: true)(single).shape, [6, 4, 5])
    }

    func testLayerNormLayerEqualsItsOpAndNamesItsParameters() {
        let y = input([2, 3, 4, 5])
        let layer = LayerNorm([4, 5])
        XCTAssertEqual(layer.stateDict().map(\.name), ["weight", "bias"])
        XCTAssertEqual(layer.weight!.shape, [4, 5])
        layer.weight!.storage = (0..<20).map { Float($0) * 0.1 - 1 }
        layer.bias!.storage = (0..<20).map { Float($0 % 3) - 1 }
        assertClose(layer(y), layerNorm(y, normalizedShape: [4, 5], weight: layer.weight, bias: layer.bias), rtol: 0, atol: 0)
        layer.eval()
        assertClose(layer(y), layerNorm(y, normalizedShape: [4, 5], weight: layer.weight, bias: layer.bias), rtol: 0, atol: 0)
        // PyTorch's elementwise_affine=False has no parameters; bias=False keeps the weight only.
        XCTAssertTrue(LayerNorm([5], elementwiseAffine: false).stateDict().isEmpty)
        XCTAssertEqual(LayerNorm([5], bias: false).stateDict().map(\.name), ["weight"])
        assertClose(LayerNorm([5], elementwiseAffine: false)(y), layerNorm(y, normalizedShape: [5]), rtol: 0, atol: 0)
    }

    func testDropout2dDropsPlanesInTrainingOnly() {
        let y = input([4, 8, 3, 3])
        let layer = Dropout2d(p: 0.5, seed: 3)
        var generator = SeededGenerator(seed: 3)
        XCTAssertEqual(layer(y).storage, dropout2d(y, p: 0.5, training: true, generator: &generator).storage)
        layer.eval()
        XCTAssertTrue(layer(y) === y)
        XCTAssertTrue(layer.stateDict().isEmpty)
    }

    /// The layers draw from their own seeded generators exactly as the ops do, and are the identity in evaluation.
    func testStochasticDepthAndDropBlockLayersEqualTheirOps() {
        let y = input([4, 3, 9, 9])
        let depth = StochasticDepth(p: 0.5, mode: .row, seed: 6), block = DropBlock2d(p: 0.2, blockSize: 3, seed: 7)
        var g6 = SeededGenerator(seed: 6), g7 = SeededGenerator(seed: 7)
        XCTAssertEqual(depth(y).storage, stochasticDepth(y, p: 0.5, mode: .row, training: true, generator: &g6).storage)
        XCTAssertEqual(block(y).storage, dropBlock2d(y, p: 0.2, blockSize: 3, training: true, generator: &g7).storage)
        depth.eval(); block.eval()
        XCTAssertTrue(depth(y) === y)
        XCTAssertTrue(block(y) === y)
        XCTAssertTrue(depth.stateDict().isEmpty && block.stateDict().isEmpty)
    }

    /// PyTorch accepts p = 1: training zeroes every element (every plane), evaluation is still the identity.
    func testDropoutLayersWithProbabilityOneZeroEverythingInTraining() {
        let y = input([2, 3, 2, 2])
        for layer in [Dropout(p: 1, seed: 4), Dropout2d(p: 1, seed: 4)] as [Module] {
            let out = layer(y)
            XCTAssertEqual(out.storage, [Float](repeating: 0, count: y.count), "\(type(of: layer))")
            layer.eval()
            XCTAssertTrue(layer(y) === y, "\(type(of: layer))")
        }
    }

    func testPoolingLayersEqualTheirOps() {
        // 4×4 plane 1…16: 2×2 max pooling picks 6, 8, 14, 16; average pooling 3.5, 5.5, 11.5, 13.5.
        let x = Tensor((1...16).map(Float.init), shape: [1, 1, 4, 4])
        XCTAssertEqual(MaxPool2d(2)(x).storage, [6, 8, 14, 16])
        XCTAssertEqual(AvgPool2d(2)(x).storage, [3.5, 5.5, 11.5, 13.5])
        XCTAssertEqual(AdaptiveAvgPool2d((1, 1))(x).storage, [8.5])
        let y = input([2, 3, 7, 6])
        assertClose(MaxPool2d(3, stride: 2, padding: 1)(y), maxPool2d(y, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)), rtol: 0, atol: 0)
        assertClose(AvgPool2d(3, stride: 2, padding: 1, countIncludePad: false)(y),
                    avgPool2d(y, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false), rtol: 0, atol: 0)
        assertClose(AdaptiveAvgPool2d((2, 3))(y), adaptiveAvgPool2d(y, outputSize: (2, 3)), rtol: 0, atol: 0)
        assertClose(MaxPool2d(3, stride: 2, padding: 1, dilation: 2, ceilMode: true)(y),
                    maxPool2d(y, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), dilation: (2, 2), ceilMode: true),
                    rtol: 0, atol: 0)
        assertClose(AvgPool2d(2, ceilMode: true)(y), avgPool2d(y, kernelSize: (2, 2), ceilMode: true), rtol: 0, atol: 0)
        assertClose(AvgPool2d(3, stride: 2, divisorOverride: 4)(y), avgPool2d(y, kernelSize: (3, 3), stride: (2, 2), divisorOverride: 4),
                    rtol: 0, atol: 0)
        assertClose(AdaptiveMaxPool2d((2, 3))(y), adaptiveMaxPool2d(y, outputSize: (2, 3)), rtol: 0, atol: 0)
        XCTAssertEqual(MaxPool2d(kernelSize: (2, 3)).stride.0, 2, "the stride defaults to the kernel")
        XCTAssertEqual(MaxPool2d(kernelSize: (2, 3)).stride.1, 3)
    }

    func testUpsampleFlattenAndIdentity() {
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
        XCTAssertEqual(Upsample(scaleFactor: 2)(x).storage, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let y = input([1, 2, 3, 3])
        assertClose(Upsample(scaleFactor: 2, mode: .bilinear)(y), upsample(y, scaleFactor: 2, mode: .bilinear), rtol: 0, atol: 0)
        assertClose(Upsample(scaleFactor: 2, mode: .bilinear, alignCorners: true)(y),
                    upsample(y, scaleFactor: 2, mode: .bilinear, alignCorners: true), rtol: 0, atol: 0)
        XCTAssertEqual(Flatten()(y).shape, [1, 18])
        XCTAssertTrue(Identity()(y) === y)
    }

    func testActivationLayersEqualTheirOps() {
        let x = Tensor([-2, -0.5, 0.25, 3], shape: [1, 4])
        XCTAssertEqual(ReLU()(x).storage, [0, 0, 0.25, 3])
        // NaN propagates as in PyTorch (a diverged network must still give a non-finite loss).
        XCTAssertTrue(ReLU()(Tensor([.nan, -1], shape: [2])).storage[0].isNaN)
        XCTAssertTrue(LeakyReLU()(Tensor([.nan], shape: [1])).storage[0].isNaN)
        assertClose(LeakyReLU(negativeSlope: 0.1)(x).storage, [-0.2, -0.05, 0.25, 3])
        assertClose(ELU(alpha: 1)(x), x.elu(alpha: 1), rtol: 0, atol: 0)
        assertClose(SELU()(x), x.selu(), rtol: 0, atol: 0)
        assertClose(SiLU()(x), x.silu(), rtol: 0, atol: 0)
        assertClose(GELU()(x), x.gelu(), rtol: 0, atol: 0)
        assertClose(GELU(approximate: "tanh")(x), x.gelu(approximateTanh: true), rtol: 0, atol: 0)
        assertClose(Hardswish()(x), x.hardswish(), rtol: 0, atol: 0)
        assertClose(Hardsigmoid()(x), x.hardsigmoid(), rtol: 0, atol: 0)
        assertClose(ReLU6()(x), x.relu6(), rtol: 0, atol: 0)
        assertClose(Softplus(beta: 2, threshold: 5)(x), x.softplus(beta: 2, threshold: 5), rtol: 0, atol: 0)
        assertClose(Mish()(x), x.mish(), rtol: 0, atol: 0)
        assertClose(Sigmoid()(x).storage, x.storage.map { 1 / (1 + Foundation.exp(-$0)) })
        assertClose(Tanh()(x).storage, x.storage.map { Foundation.tanh($0) })
        let softmax = Softmax(axis: 1)(x)
        XCTAssertEqual(softmax.storage.reduce(0, +), 1, accuracy: 1e-6)
        assertClose(LogSoftmax(axis: 1)(x).storage, softmax.storage.map { Foundation.log($0) })
    }

    func testPReLURegistersItsSlopesAndLearnsThem() {
        let shared = PReLU()
        XCTAssertEqual(shared.namedParameters().map(\.name), ["weight"])
        XCTAssertEqual(shared.weight.storage, [0.25])
        XCTAssertEqual(shared(Tensor([-4, 2], shape: [2])).storage, [-1, 2])

        let perChannel = PReLU(numParameters: 2, initial: 0.5)
        XCTAssertEqual(perChannel.parameterCount, 2)
        XCTAssertTrue(perChannel.weight.requiresGrad)
        perChannel.weight.storage = [0.5, 0.1]
        // [N=1, C=2, 1, 2]: channel 0 holds −2, 4; channel 1 holds −3, 1.
        let x = Tensor([-2, 4, -3, 1], shape: [1, 2, 1, 2])
        let y = perChannel(x)
        assertClose(y.storage, [-1, 4, -0.3, 1])
        assertClose(y, prelu(x, weight: perChannel.weight), rtol: 0, atol: 0)
        y.sum().backward()
        assertClose(perChannel.weight.grad!.storage, [-2, -3], "dweight_c = Σ_{x ≤ 0} x")
    }

    // MARK: Containers

    func testSequentialAndModuleListNameChildrenByIndex() {
        var g = SeededGenerator(seed: 5)
        let inner = Sequential(Conv2d(1, 2, kernelSize: 3, padding: 1, generator: &g), BatchNorm2d(2), ReLU())
        let net = Sequential(inner, MaxPool2d(2), Flatten(), Linear(8, 3, generator: &g))
        XCTAssertEqual(net.namedParameters().map(\.name),
                       ["0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "3.weight", "3.bias"])
        XCTAssertEqual(net.namedBuffers().map(\.name), ["0.1.running_mean", "0.1.running_var"])
        XCTAssertEqual(net.namedModules().map(\.name), ["", "0", "0.0", "0.1", "0.2", "1", "2", "3"])
        XCTAssertTrue(net.module(at: "0.1") === inner.layers[1])
        XCTAssertNil(net.module(at: "0.7"))
        XCTAssertEqual(net.parameterCount, (2 * 9 + 2) + 4 + (8 * 3 + 3))
        let x = input([2, 1, 4, 4])
        XCTAssertEqual(net(x).shape, [2, 3], "Sequential applies its layers in order")

        // replace keeps the key and the position.
        let replacement = Linear(8, 5, generator: &g)
        net.replace(at: 3, with: replacement)
        XCTAssertTrue(net.module(at: "3") === replacement)
        XCTAssertEqual(net(x).shape, [2, 5])
        XCTAssertEqual(net.namedParameters().suffix(2).map(\.name), ["3.weight", "3.bias"])
        XCTAssertEqual(net.children.map(\.name), ["0", "1", "2", "3"])

        let list = ModuleList([ReLU(), Linear(2, 2, generator: &g)])
        list.append(Sequential(Linear(2, 1, generator: &g)))
        XCTAssertEqual(list.count, 3)
        XCTAssertEqual(list.namedParameters().map(\.name), ["1.weight", "1.bias", "2.0.weight", "2.0.bias"])
        XCTAssertTrue(list[1] === list.module(at: "1"))
    }

    func testTrainAndEvalPropagateToChildren() {
        let net = Sequential(Sequential(BatchNorm2d(1), Dropout()), ReLU())
        net.eval()
        XCTAssertTrue(net.namedModules().allSatisfy { !$0.module.isTraining })
        net.train()
        XCTAssertTrue(net.namedModules().allSatisfy { $0.module.isTraining })
    }

    func testCaptureOutputsReturnsTheShapesOfNamedLayersAndThrowsOnUnknownNames() throws {
        var g = SeededGenerator(seed: 6)
        let net = Sequential(Sequential(Conv2d(3, 4, kernelSize: 3, padding: 1, generator: &g), ReLU()),
                             MaxPool2d(2), Flatten(), Linear(4 * 3 * 3, 2, generator: &g))
        let x = input([2, 3, 6, 6])
        var final: Tensor?
        let outputs = try net.captureOutputs(of: ["0", "0.0", "1", "3"]) { final = net(x) }
        XCTAssertEqual(outputs["0"]?.shape, [2, 4, 6, 6])
        XCTAssertEqual(outputs["0.0"]?.shape, [2, 4, 6, 6])
        XCTAssertEqual(outputs["1"]?.shape, [2, 4, 3, 3])
        XCTAssertEqual(outputs["3"]?.shape, [2, 2])
        XCTAssertTrue(outputs["3"] === final, "the captured tensor is the layer's output")
        XCTAssertTrue(outputs["0"]!.storage.allSatisfy { $0 >= 0 }, "after the ReLU")
        XCTAssertThrowsError(try net.captureOutputs(of: ["0", "9.1"]) { _ = net(x) }) { error in
            XCTAssertTrue("\(error)".contains("9.1"), "\(error)")
        }
        // Hooks are removed afterwards: a later capture sees only what it asked for.
        let later = try net.captureOutputs(of: ["2"]) { _ = net(x) }
        XCTAssertEqual(Array(later.keys), ["2"])
        XCTAssertEqual(later["2"]?.shape, [2, 36])
    }

    /// Conv → BatchNorm → ReLU in a `Sequential` (and `convBatchNorm` with a residual): in eval mode under
    /// `noGrad` the fused pass gives the separate modules' result; in training, with a graph recorded, or
    /// with a capture on an inner module, the modules run one by one (gradients flow, the capture sees the
    /// batch-norm's own output, with its negative values).
    func testConvBatchNormFusionMatchesTheSeparateModules() throws {
        var g = SeededGenerator(seed: 31)
        let conv = Conv2d(3, 5, kernelSize: 3, padding: 1, bias: true, generator: &g)
        let bn = BatchNorm2d(5), relu = ReLU()
        let net = Sequential(conv, bn, relu, MaxPool2d(2))
        let x = input([4, 3, 8, 8])
        net.train()
        _ = net(x); _ = net(x)  // running statistics away from 0 and 1
        bn.weight.storage = [0.5, -1, 2, 1.5, 0.25]
        bn.bias.storage = [0.1, 0.2, -0.3, 0, 1]
        net.eval()
        let separate = Autograd.noGrad { MaxPool2d(2)(relu(bn.forward(conv.forward(x)))) }
        let fused = Autograd.noGrad { net(x) }
        assertClose(fused, separate, rtol: 1e-5, atol: 1e-5, "fused eval pass")

        let residual = input([4, 5, 8, 8], seed: 2)
        let withResidual = Autograd.noGrad { convBatchNorm(x, conv, bn, residual: residual, relu: relu) }
        let expected = Autograd.noGrad { (bn.forward(conv.forward(x)) + residual).relu() }
        assertClose(withResidual, expected, rtol: 1e-5, atol: 1e-5, "fused with a residual")

        // A graph is recorded: the modules run one by one and the weights get gradients.
        let recorded = net(x)
        assertClose(recorded, separate, rtol: 1e-5, atol: 1e-5, "eval with a graph")
        recorded.sum().backward()
        XCTAssertNotNil(conv.weight.grad, "gradients reach the convolution")

        // A frozen convolution under a trainable batch-norm still records (fine-tuning the norms only).
        conv.weight.requiresGrad = false; conv.bias?.requiresGrad = false
        let normsOnly = net(x)
        XCTAssertTrue(normsOnly.requiresGrad, "the batch-norm's parameters start a graph")
        bn.weight.zeroGrad()
        normsOnly.sum().backward()
        XCTAssertNotNil(bn.weight.grad, "gradients reach the batch-norm")
        conv.weight.requiresGrad = true; conv.bias?.requiresGrad = true

        // A residual that broadcasts runs the separate modules (the fused pass needs the full shape).
        let perChannel = input([1, 5, 1, 1], seed: 3)
        let broadcast = Autograd.noGrad { convBatchNorm(x, conv, bn, residual: perChannel, relu: relu) }
        assertClose(broadcast, Autograd.noGrad { (bn.forward(conv.forward(x)) + perChannel).relu() },
                    rtol: 1e-5, atol: 1e-5, "broadcast residual")

        // A capture inside the run sees the batch-norm's output (negative values before the ReLU).
        let captured = try net.captureOutputs(of: ["1"]) { _ = Autograd.noGrad { net(x) } }
        let bnOutput = try XCTUnwrap(captured["1"])
        assertClose(bnOutput, Autograd.noGrad { bn.forward(conv.forward(x)) }, rtol: 1e-6, atol: 1e-6, "captured bn output")
        XCTAssertTrue(bnOutput.storage.contains { $0 < 0 })
    }

    func testSetTrainableFalseStopsGradientsAndTrueRestoresThem() {
        var g = SeededGenerator(seed: 7)
        let frozen = Linear(3, 3, generator: &g), head = Linear(3, 2, generator: &g)
        let net = Sequential(frozen, ReLU(), head)
        let x = input([4, 3])
        net(x).sum().backward()
        XCTAssertNotNil(frozen.weight.grad)
        frozen.setTrainable(false)
        XCTAssertNil(frozen.weight.grad, "freezing clears stale gradients")
        XCTAssertFalse(frozen.weight.requiresGrad)
        XCTAssertFalse(frozen.bias!.requiresGrad)
        head.zeroGrad()
        net(x).sum().backward()
        XCTAssertNil(frozen.weight.grad)
        XCTAssertNil(frozen.bias?.grad)
        XCTAssertNotNil(head.weight.grad, "layers after a frozen one still learn")
        XCTAssertEqual(net.parameterCount, 12 + 8, "frozen parameters still count")
        XCTAssertEqual(net.parameters().filter(\.requiresGrad).count, 2)
        frozen.setTrainable(true)
        net(x).sum().backward()
        XCTAssertNotNil(frozen.weight.grad)
    }
}

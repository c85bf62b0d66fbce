import Foundation
import TestSupport
import VisionCore
import VisionModels
import VisionNN
import XCTest

final class ModelZooTests: XCTestCase {
    /// torchvision's counts (1000 classes) and the CIFAR ResNets of He et al. (10 classes, option-A shortcuts).
    func testParameterCountsMatchTorchvisionAndThePaper() throws {
        let expected: [(String, Int, Int)] = [
            ("resnet18", 1000, 11_689_512), ("resnet34", 1000, 21_797_672), ("resnet50", 1000, 25_557_032),
            ("resnet101", 1000, 44_549_160), ("resnet152", 1000, 60_192_808),
            ("resnext50_32x4d", 1000, 25_028_904), ("resnext101_32x8d", 1000, 88_791_336),
            ("resnext101_64x4d", 1000, 83_455_272), ("wide_resnet50_2", 1000, 68_883_240),
            ("wide_resnet101_2", 1000, 126_886_696),
            ("vgg11", 1000, 132_863_336), ("vgg11_bn", 1000, 132_868_840), ("vgg13", 1000, 133_047_848),
            ("vgg13_bn", 1000, 133_053_736), ("vgg16", 1000, 138_357_544), ("vgg16_bn", 1000, 138_365_992),
            ("vgg19", 1000, 143_667_240), ("vgg19_bn", 1000, 143_678_248),
            ("resnet20", 10, 269_722), ("resnet32", 10, 464_154), ("resnet44", 10, 658_586),
            ("resnet56", 10, 853_018), ("resnet110", 10, 1_727_962),
        ]
        XCTAssertEqual(Set(expected.map(\.0)).union(["unet"]), Set(ModelRegistry.names), "every registry entry has a count")
        for (name, classes, count) in expected {
            let model = try ModelRegistry.build(name, options: ModelOptions(numClasses: classes, stem: .imagenet, head: .imagenet))
            XCTAssertEqual(model.parameterCount, count, name)
            if let layout = ResNetVariantTests.torchvisionLayouts[name] {
                XCTAssertEqual(ResNetVariantTests.layoutHash(model), layout, "\(name): state-dict names and shapes")
            }
        }
        XCTAssertTrue(Set(ResNetVariantTests.torchvisionLayouts.keys).isSubset(of: expected.map(\.0)))
        let unet = try ModelRegistry.build("unet", options: ModelOptions(numClasses: 2, inChannels: 1))
        XCTAssertEqual(unet.parameterCount, ModelZooTests.unetBase32Depth4Parameters)
    }

    /// Parameters of `shared/bench/torch_unet.py`'s UNet() (base 32, depth 4, 1 → 2 classes), as PyTorch counts them.
    static let unetBase32Depth4Parameters = 7_762_498

    func testOutputShapesForEveryRegistryEntry() throws {
        for entry in ModelRegistry.entries {
            let isUNet = entry.family == "unet"
            let options = ModelOptions(numClasses: 7, inChannels: isUNet ? 1 : 3, base: 4, depth: 2, inputSize: 32)
            let model = entry.build(options)
            model.eval()
            let side = isUNet ? 20 : 32  // 20 is not a multiple of 2^depth: padded and cropped back
            let x = Tensor.zeros([2, options.inChannels, side, side])
            let y = Autograd.noGrad { model(x) }
            XCTAssertEqual(y.shape, isUNet ? [2, 7, side, side] : [2, 7], entry.name)
        }
        // The ImageNet stem and head accept 64×64 inputs too.
        let r = resnet50(numClasses: 5, stem: .imagenet)
        r.eval()
        XCTAssertEqual(Autograd.noGrad { r(Tensor.zeros([1, 3, 64, 64])) }.shape, [1, 5])
    }

    func testSmallStemIsChosenForSmallInputsAndKeepsKeyNames() throws {
        let small = try ModelRegistry.build("resnet18", options: ModelOptions(numClasses: 10, inChannels: 1, inputSize: 28))
        let large = try ModelRegistry.build("resnet18", options: ModelOptions(numClasses: 10, inChannels: 1, inputSize: 224))
        let smallKeys = small.stateDict().map(\.name), largeKeys = large.stateDict().map(\.name)
        XCTAssertEqual(smallKeys, largeKeys)
        let conv1 = small.stateDict().first { $0.name == "conv1.weight" }!.tensor
        XCTAssertEqual(conv1.shape, [64, 1, 3, 3])
        XCTAssertEqual(large.stateDict().first { $0.name == "conv1.weight" }!.tensor.shape, [64, 1, 7, 7])
        XCTAssertTrue(smallKeys.contains("layer2.0.downsample.0.weight"))
        XCTAssertTrue(smallKeys.contains("layer2.0.downsample.1.running_var"))
    }

    func testVGGKeysCountReLUAndPoolSlots() throws {
        let vgg = try ModelRegistry.build("vgg11_bn", options: ModelOptions(numClasses: 10, head: .imagenet))
        let keys = Set(vgg.stateDict().map(\.name))
        // features: 0 conv, 1 bn, 2 relu, 3 pool, 4 conv …
        XCTAssertTrue(keys.contains("features.0.weight"))
        XCTAssertTrue(keys.contains("features.1.running_mean"))
        XCTAssertTrue(keys.contains("features.4.weight"))
        XCTAssertTrue(keys.isSuperset(of: ["classifier.0.weight", "classifier.3.weight", "classifier.6.bias"]))
        let small = try ModelRegistry.build("vgg16", options: ModelOptions(numClasses: 10, inputSize: 32))
        XCTAssertTrue(Set(small.stateDict().map(\.name)).isSuperset(of: ["classifier.weight", "classifier.bias", "features.28.weight"]))
    }

    /// The small head needs 1×1 features (32–63 pixels); from 64 pixels the ImageNet head's adaptive pool
    /// takes any size; below 32 pixels the fifth pooling has nothing to pool, so the registry refuses.
    func testVGGHeadFollowsTheInputSizeAndTooSmallInputsAreRefused() throws {
        let cases: [(side: Int, head: VGG.Head)] = [(32, .small), (63, .small), (64, .imagenet)]
        for (side, head) in cases {
            let model = try ModelRegistry.build("vgg11", options: ModelOptions(numClasses: 5, inputSize: side))
            let vgg = try XCTUnwrap(model as? VGG)
            XCTAssertEqual(vgg.head, head, "\(side) px")
            vgg.eval()
            XCTAssertEqual(Autograd.noGrad { vgg(Tensor.zeros([1, 3, side, side])) }.shape, [1, 5], "\(side) px")
        }
        let entry = try ModelRegistry.entry("vgg16_bn")
        XCTAssertEqual(entry.minimumInputSize, 32)
        XCTAssertThrowsError(try entry.checkInputSize(31))
        XCTAssertThrowsError(try ModelRegistry.build("vgg11", options: ModelOptions(numClasses: 5, inputSize: 16))) { error in
            XCTAssertEqual("\(error)", "vgg11 needs inputs of at least 32×32 pixels, got 16×16")
        }
        XCTAssertNoThrow(try ModelRegistry.build("resnet20", options: ModelOptions(numClasses: 5, inputSize: 8)))
    }

    func testUNetKeysMatchTheReferenceDefinition() throws {
        let unet = UNet(inChannels: 1, numClasses: 2, base: 8, depth: 3)
        let keys = Set(unet.stateDict().map(\.name))
        for k in ["down.0.0.weight", "down.0.1.running_mean", "down.3.3.weight", "down.3.4.bias",
                  "up.0.weight", "up.2.bias", "dec.0.0.weight", "dec.2.4.running_var", "head.weight", "head.bias"] {
            XCTAssertTrue(keys.contains(k), k)
        }
        XCTAssertEqual(unet.stateDict().first { $0.name == "up.0.weight" }!.tensor.shape, [64, 32, 2, 2])
        XCTAssertEqual(unet.stateDict().first { $0.name == "dec.0.0.weight" }!.tensor.shape, [32, 64, 3, 3])
    }

    func testIntermediateOutputsByLayerName() throws {
        let model = resnet18(numClasses: 10, stem: .small)
        model.eval()
        let outputs = try model.captureOutputs(of: ["layer1", "layer3.1", "layer4"]) {
            _ = Autograd.noGrad { model(Tensor.zeros([1, 3, 32, 32])) }
        }
        XCTAssertEqual(outputs["layer1"]?.shape, [1, 64, 32, 32])
        XCTAssertEqual(outputs["layer3.1"]?.shape, [1, 256, 8, 8])
        XCTAssertEqual(outputs["layer4"]?.shape, [1, 512, 4, 4])
        XCTAssertThrowsError(try model.captureOutputs(of: ["layer9"]) {})
        let vgg = VGG(depth: 11, batchNorm: false, numClasses: 10, head: .small)
        let f = try vgg.captureOutputs(of: ["features.2"]) { _ = Autograd.noGrad { vgg(Tensor.zeros([1, 3, 32, 32])) } }
        XCTAssertEqual(f["features.2"]?.shape, [1, 64, 16, 16])
    }

    /// Eval-mode inference under `noGrad` runs conv → batch-norm (→ residual) → ReLU fused; with a graph
    /// being recorded each module runs on its own. Both give the same logits for each family (ResNet
    /// blocks with a downsample, VGG's `features`, the U-Net's double convolutions).
    func testFusedInferenceMatchesTheModuleByModulePass() throws {
        var g = SeededGenerator(seed: 8)
        let x = Tensor.normal([2, 3, 32, 32], generator: &g)
        for name in ["resnet18", "resnet20", "resnet50", "vgg11_bn", "unet"] {
            let options = ModelOptions(numClasses: 3, inChannels: 3, base: 4, depth: 2, seed: 1, inputSize: 32)
            let model = try ModelRegistry.build(name, options: options)
            model.train(); _ = Autograd.noGrad { model(x) }  // running statistics away from 0 and 1
            model.eval()
            let fused = Autograd.noGrad { model(x) }
            let separate = model(x)
            XCTAssertTrue(separate.requiresGrad, "\(name): the reference pass records a graph")
            let scale = separate.storage.map(abs).max()!
            assertClose(fused, separate.detach(), rtol: 1e-4, atol: 1e-4 * scale, name)
        }
    }

    func testSaveLoadRoundTripReproducesOutputsExactly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 5)
        let x = Tensor.normal([2, 3, 32, 32], generator: &g)
        for name in ["resnet20", "vgg11_bn", "unet"] {
            let isUNet = name == "unet"
            let options = ModelOptions(numClasses: 3, inChannels: 3, base: 4, depth: 2, seed: 1, inputSize: 32)
            let a = try ModelRegistry.build(name, options: options)
            // Move batch-norm statistics away from their defaults so buffers are exercised.
            a.train(); _ = Autograd.noGrad { a(x) }
            a.eval()
            let url = dir.appendingPathComponent("\(name).safetensors")
            try a.saveStateDict(to: url)
            var other = options; other.seed = 99
            let b = try ModelRegistry.build(name, options: other)
            try b.loadStateDict(contentsOf: url)
            b.eval()
            let ya = Autograd.noGrad { a(x) }, yb = Autograd.noGrad { b(x) }
            XCTAssertEqual(ya.storage, yb.storage, name)
            XCTAssertEqual(ya.shape, isUNet ? [2, 3, 32, 32] : [2, 3])
        }
    }

    func testNonStrictLoadReplacesAHeadAndReportsWhatItSkipped() throws {
        let source = resnet18(numClasses: 1000, stem: .small, seed: 1)
        let target = resnet18(numClasses: 10, stem: .small, seed: 2)
        let weights = Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.name, $0.tensor) })
        XCTAssertThrowsError(try target.loadStateDict(weights, strict: true))
        let report = try target.loadStateDict(weights, strict: false)
        XCTAssertEqual(Set(report.mismatched.map(\.key)), ["fc.weight", "fc.bias"])
        let conv = target.stateDict().first { $0.name == "conv1.weight" }!.tensor
        XCTAssertEqual(conv.storage, weights["conv1.weight"]!.storage)
    }

    func testFLOPsOfResNet18MatchThePublishedFigure() throws {
        // torchvision lists 1.81 GFLOPS (multiply-adds) for ResNet-18 at 224×224.
        let model = resnet18()
        let flops = try ModelRegistry.flops(of: model, input: [3, 224, 224])
        XCTAssertEqual(Double(flops) / 2e9, 1.81, accuracy: 0.02)
    }

    /// One small batch, a few dozen steps of plain gradient descent: the loss falls by 10×.
    func testEachFamilyOverfitsOneSmallBatch() throws {
        var g = SeededGenerator(seed: 11)
        let cases: [(String, Module, Tensor, [Int])] = [
            ("resnet20", CIFARResNet(depth: 8, numClasses: 4, seed: 3), Tensor.normal([8, 3, 16, 16], generator: &g), [0, 1, 2, 3, 0, 1, 2, 3]),
            ("vgg", VGG(depth: 11, batchNorm: true, numClasses: 4, head: .small, seed: 3), Tensor.normal([8, 3, 32, 32], generator: &g), [3, 2, 1, 0, 0, 1, 2, 3]),
            ("unet", UNet(inChannels: 1, numClasses: 2, base: 4, depth: 2, seed: 3), Tensor.normal([2, 1, 16, 16], generator: &g),
             (0..<(2 * 16 * 16)).map { ($0 / 16 + $0 % 16) % 3 == 0 ? 1 : 0 }),
        ]
        for (name, model, x, y) in cases {
            model.train()
            var first: Float = 0, last: Float = 0
            let lr: Float = name == "vgg" ? 0.02 : 0.1
            var velocity: [ObjectIdentifier: [Float]] = [:]
            for step in 0..<60 {
                model.zeroGrad()
                let loss = crossEntropy(model(x), targets: y)
                loss.backward()
                if step == 0 { first = loss.item }
                last = loss.item
                for p in model.parameters() {
                    guard let grad = p.grad else { continue }
                    var v = velocity[ObjectIdentifier(p)] ?? [Float](repeating: 0, count: p.count)
                    for i in 0..<p.count {
                        v[i] = 0.9 * v[i] + grad.storage[i]
                        p.storage[i] -= lr * v[i]
                    }
                    velocity[ObjectIdentifier(p)] = v
                }
            }
            XCTAssertLessThan(last, first / 10, "\(name): loss \(first) → \(last)")
        }
    }
}

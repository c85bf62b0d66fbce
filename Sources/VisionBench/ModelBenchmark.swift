import Foundation
import VisionCore
import VisionData
import VisionModels
import VisionTools
import VisionNN
import VisionOptim

/// Whole-model throughput at the shapes of `shared/bench/torch_baseline.py` and `torch_unet.py`:
/// training steps (forward, cross-entropy, backward, optimizer step) and inference, in images/s.
func runModelBenchmark(_ options: BenchmarkOptions) {
    let seconds = options.double("seconds", default: 3)
    var g = SeededGenerator(seed: 0)

    /// (name, model, batch, learning rate, input shape of one image).
    func classifierCases() -> [(String, Module, Int, Float, [Int])] {
        [("resnet18_cifar", resnet18(numClasses: 10, stem: .small), 64, 0.01, [3, 32, 32]),
         ("vgg16bn_cifar", VGG(depth: 16, batchNorm: true, numClasses: 10, head: .small), 64, 0.01, [3, 32, 32]),
         ("resnet20_cifar", CIFARResNet(depth: 20, numClasses: 10), 128, 0.1, [3, 32, 32]),
         // The main job's network and input (Fashion-MNIST): planes of 28², 14² and 7².
         ("resnet20_fashion", CIFARResNet(depth: 20, numClasses: 10, inChannels: 1), 128, 0.1, [1, 28, 28])]
    }

    // --only NAME keeps the cases whose name starts with NAME (resnet18, vgg16bn, resnet20, resnet20_fashion, unet).
    let only = options.string("only")
    func chosen(_ name: String) -> Bool { only.map { name.hasPrefix($0) } ?? true }

    // --versus "OPTIONS": each case under both tunings, alternating call by call.
    if let versus = options.string("versus") {
        let a = Tuning(options), b = Tuning(BenchmarkOptions(versus.split(separator: " ").map(String.init)))
        func compare(_ name: String, work: Double, _ body: () -> Void) {
            let (ta, tb, ratio) = measureVersus(a, b, minSeconds: 2 * seconds, body)
            print(name.padding(toLength: max(name.count, 34), withPad: " ", startingAt: 0)
                  + String(format: " %8.1f vs %.1f img/s (versus); paired speed ratio %.3f", work / ta.median, work / tb.median, 1 / ratio))
        }
        for (name, model, batch, lr, shape) in classifierCases() where chosen(name) {
            let x = Tensor.normal([batch] + shape, generator: &g)
            let y = (0..<batch).map { $0 % 10 }
            let optimizer = SGD([ParameterGroup(model.parameters())], learningRate: lr, momentum: 0.9)
            model.train()
            compare("\(name)_train_b\(batch)", work: Double(batch)) {
                optimizer.zeroGrad()
                let loss = crossEntropy(model(x), targets: y)
                loss.backward()
                optimizer.step()
            }
            if name.hasPrefix("resnet18") {
                model.eval()
                compare("\(name)_infer_b\(batch)", work: Double(batch)) { _ = Autograd.noGrad { model(x) } }
            }
        }
        return
    }

    for (name, model, batch, lr, shape) in classifierCases() where chosen(name) {
        let x = Tensor.normal([batch] + shape, generator: &g)
        let y = (0..<batch).map { $0 % 10 }
        let optimizer = SGD([ParameterGroup(model.parameters())], learningRate: lr, momentum: 0.9)
        model.train()
        let train = measure(warmUp: 2, minIterations: 3, minSeconds: seconds) {
            optimizer.zeroGrad()
            let loss = crossEntropy(model(x), targets: y)
            loss.backward()
            optimizer.step()
        }
        report("\(name)_train_b\(batch)", work: Double(batch), train, "img/s")
        if name.hasPrefix("resnet18") {
            model.eval()
            let infer = measure(warmUp: 2, minIterations: 3, minSeconds: seconds) { _ = Autograd.noGrad { model(x) } }
            report("\(name)_infer_b\(batch)", work: Double(batch), infer, "img/s")
        }
    }

    guard chosen("unet") else { return }
    let unet = UNet(inChannels: 1, numClasses: 2, base: 32, depth: 4)
    let x = Tensor.normal([4, 1, 256, 256], generator: &g)
    let masks = (0..<(4 * 256 * 256)).map { ($0 / 256 + $0 % 256) % 2 }
    let adam = Adam([ParameterGroup(unet.parameters())], learningRate: 1e-3)
    unet.train()
    let train = measure(warmUp: 1, minIterations: 2, minSeconds: seconds) {
        adam.zeroGrad()
        let loss = crossEntropy(unet(x), targets: masks)
        loss.backward()
        adam.step()
    }
    report("unet32_train_b4_256", work: 4, train, "img/s")
    unet.eval()
    let big = Tensor.normal([1, 1, 512, 512], generator: &g)
    let infer = measure(warmUp: 1, minIterations: 2, minSeconds: seconds) { _ = Autograd.noGrad { unet(big) } }
    report("unet32_infer_512", work: 1, infer, "img/s")
}

/// Decode + random crop + flip + normalise of the CIFAR-10 JPEG training tree through the DataLoader; with
/// `--augment P1,P2,…` the training presets of `vision train --augment` instead (as for CIFAR-10: 32 px, padding 4).
func runDataBenchmark(_ options: BenchmarkOptions) {
    guard let root = options.string("root") ?? ProcessInfo.processInfo.environment["VISION_BENCH_CIFAR_JPEG"] else {
        print("data: pass --root DIR (a cifar10/ JPEG tree extracted from shared/datasets/cifar10-jpeg.tar.gz); skipped")
        return
    }
    let presets = options.string("augment").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    // Every preset is checked before minutes of measuring start.
    if let presets, let wrong = presets.first(where: { !DataSetup.augmentationPresets.contains($0) }) {
        FileHandle.standardError.write(Data("vision-bench data: unknown --augment preset '\(wrong)' (one of \(DataSetup.augmentationPresets.joined(separator: ", ")))\n".utf8))
        exit(1)
    }
    for preset in presets ?? [""] {
        let transform = preset.isEmpty ? DataBenchmark.cifarTrainingTransform
            : DataSetup.classificationTransform(preset, size: 32, padding: 4, channels: 3, largeImages: false,
                                                mean: Normalize.cifar10.mean, std: Normalize.cifar10.std)
        let name = preset.isEmpty ? "cifar10_jpeg_decode_crop_flip_normalise" : "cifar10_jpeg_augment_\(preset)"
        do {
            for (workers, rate) in try DataBenchmark.run(root: URL(fileURLWithPath: root), workers: [1, 2], limit: options.int("limit"),
                                                         transform: transform) {
                print("\(name)_w\(workers)".padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%9.0f img/s", rate))
            }
        } catch {
            print("data: \(error)")
        }
    }
}

import Foundation
import TestSupport
import VisionCore
import VisionData
import VisionImage
import VisionModels
import VisionTools
import XCTest

/// How `DataSetup` reads a dataset name or folder: task, classes, splits, preprocessing.
final class DataSetupTests: XCTestCase {
    var directory: URL!

    override func setUp() {
        super.setUp()
        directory = temporaryDirectory("vision-datasetup")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    func transformed(_ sample: Sample, _ transform: any Transform) -> Sample {
        var s = sample
        var g = SeededGenerator(seed: 0)
        transform.apply(to: &s, generator: &g)
        return s
    }

    /// `erasing` sets the random-erasing probability of any preset: 1 erases a rectangle (zeros after
    /// normalisation) in every training image, 0 turns the `strong` preset's erasing off, nil keeps it.
    func testErasingProbabilityOverridesThePreset() {
        var g = SeededGenerator(seed: 3)
        let samples = (0..<20).map { _ in
            Sample(image: FloatImage(channels: 1, height: 16, width: 16, pixels: (0..<256).map { _ in 0.2 + 0.6 * g.nextUniform() }), label: 0)
        }
        func transform(_ preset: String, _ erasing: Float?) -> any Transform {
            DataSetup.classificationTransform(preset, size: 16, padding: 0, channels: 1, largeImages: false,
                                              mean: [0], std: [1], erasing: erasing)
        }
        func zeros(_ s: Sample) -> Int { s.image.pixels.filter { $0 == 0 }.count }
        for (index, sample) in samples.enumerated() {
            XCTAssertGreaterThan(zeros(transformed(sample, transform("standard", 1))), 0, "sample \(index) not erased")
            XCTAssertEqual(zeros(transformed(sample, transform("standard", nil))), 0, "standard preset erased sample \(index)")
            XCTAssertEqual(transformed(sample, transform("strong", 0)), transformed(sample, transform("standard", nil)),
                           "strong with erasing 0 differs from standard on a 1-channel image (no colour jitter)")
        }
        // Each sample with its own generator, as the data loader gives them.
        let strongErased = samples.indices.filter { index in
            var sample = samples[index]
            var generator = SeededGenerator(seed: UInt64(index))
            transform("strong", nil).apply(to: &sample, generator: &generator)
            return zeros(sample) > 0
        }.count
        XCTAssertTrue((1..<20).contains(strongErased), "strong preset erased \(strongErased) of 20 (p = 0.25)")
    }

    /// `--augment trivial`, `rand` and `auto-…` are the standard crop and flip followed by TrivialAugmentWide,
    /// RandAugment or AutoAugment (torchvision's reference order), before normalisation; the other presets do
    /// not include them.
    func testAutomaticPresetsAddTheirPolicyAfterCropAndFlip() {
        func steps(_ preset: String) -> [String] {
            let t = DataSetup.classificationTransform(preset, size: 16, padding: 2, channels: 3, largeImages: false,
                                                      mean: [0, 0, 0], std: [1, 1, 1])
            return ((t as? Compose)?.transforms ?? []).map { String(describing: type(of: $0)) }
        }
        XCTAssertEqual(steps("trivial"), ["MatchChannels", "FitSize", "RandomCrop", "RandomHorizontalFlip", "TrivialAugmentWide", "Normalize"])
        XCTAssertEqual(steps("rand"), ["MatchChannels", "FitSize", "RandomCrop", "RandomHorizontalFlip", "RandAugment", "Normalize"])
        XCTAssertEqual(steps("augmix"), ["MatchChannels", "FitSize", "RandomCrop", "RandomHorizontalFlip", "AugMix", "Normalize"])
        XCTAssertEqual(steps("elastic"), ["MatchChannels", "FitSize", "RandomCrop", "RandomHorizontalFlip", "ElasticTransform", "Normalize"])
        let segmentation = DataSetup.segmentationTransform("elastic", crop: 16, channels: 1, mean: [0], std: [1])
        let elastic = ((segmentation as? Compose)?.transforms ?? []).compactMap { $0 as? ElasticTransform }
        XCTAssertEqual(elastic.map(\.maskFill), [LabelMask.ignored], "pixels brought in from outside are not labelled")
        for policy in AutoAugment.Policy.allCases {
            let t = DataSetup.classificationTransform("auto-\(policy.rawValue)", size: 16, padding: 2, channels: 3, largeImages: false,
                                                      mean: [0, 0, 0], std: [1, 1, 1])
            let augment = ((t as? Compose)?.transforms ?? []).compactMap { $0 as? AutoAugment }
            XCTAssertEqual(augment.map(\.policy), [policy])
            XCTAssertEqual(augment.map(\.interpolation), [.bilinear], "bilinear, as torchvision's reference scripts")
        }
        func transforms(_ preset: String) -> [any Transform] {
            let t = DataSetup.classificationTransform(preset, size: 16, padding: 2, channels: 3, largeImages: false,
                                                      mean: [0, 0, 0], std: [1, 1, 1])
            return (t as? Compose)?.transforms ?? []
        }
        XCTAssertEqual(transforms("trivial").compactMap { ($0 as? TrivialAugmentWide)?.interpolation }, [.bilinear])
        XCTAssertEqual(transforms("rand").compactMap { ($0 as? RandAugment)?.interpolation }, [.bilinear])
        XCTAssertEqual(transforms("augmix").compactMap { ($0 as? AugMix)?.interpolation }, [.bilinear])
        for preset in ["standard", "strong", "none"] {
            XCTAssertTrue(Set(steps(preset)).isDisjoint(with: ["TrivialAugmentWide", "RandAugment", "AutoAugment", "AugMix"]), preset)
        }
    }

    /// `cropPadding` sets how far the training crop may shift: 0 keeps every image whole (only
    /// flipped), 3 moves some windows past the border, where the zero padding shows after normalisation.
    func testCropPaddingSetsHowFarTheTrainingCropShifts() throws {
        let root = directory.appendingPathComponent("bright")
        try ToolsTestData.writeClassFolder(root, classes: [("a", (200, 200, 200)), ("b", (230, 230, 230))], perClass: 4, side: 8, seed: 2)
        func paddedPixels(_ padding: Int?) throws -> Int {
            let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, validationSplit: 0,
                                                 normalization: ([0, 0, 0], [1, 1, 1]), cropPadding: padding)
            var total = 0
            for index in 0..<prepared.train.count {
                for seed in 0..<8 {
                    var sample = try prepared.train.sample(at: index)
                    var generator = SeededGenerator(seed: UInt64(seed))
                    prepared.trainTransform.apply(to: &sample, generator: &generator)
                    total += sample.image.pixels.filter { $0 == 0 }.count
                }
            }
            return total
        }
        XCTAssertEqual(try paddedPixels(0), 0)
        XCTAssertGreaterThan(try paddedPixels(3), 0)
        XCTAssertThrowsError(try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, cropPadding: -1)) { error in
            XCTAssertTrue("\(error)".contains("--crop-padding"), "\(error)")
        }
    }

    // MARK: Classification folders

    func testClassFolderIsClassificationAtItsNativeSizeWithImageNetStatistics() throws {
        let root = directory.appendingPathComponent("colours")
        try ToolsTestData.writeClassFolder(root, classes: ToolsTestData.colours, perClass: 10, side: 12, seed: 1)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0)
        XCTAssertEqual(prepared.task, .classification)
        XCTAssertEqual(prepared.classNames, ["blue", "green", "red"])
        XCTAssertEqual(prepared.preprocessing, Preprocessing(channels: 3, size: 12, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
        XCTAssertEqual(prepared.train.count, 27, "a tenth is held out for validation")
        XCTAssertEqual(prepared.validation?.count, 3)
        XCTAssertTrue(prepared.validationSource.contains("held-out"), prepared.validationSource)

        // The evaluation transform normalises: a pixel of value v becomes (v − mean) / std.
        let raw = try prepared.train.sample(at: 0)
        let eval = transformed(raw, prepared.evalTransform)
        XCTAssertEqual([eval.image.channels, eval.image.height, eval.image.width], [3, 12, 12])
        XCTAssertEqual(eval.image.pixels[0], (raw.image.pixels[0] - 0.485) / 0.229, accuracy: 1e-5)
        let train = transformed(raw, prepared.trainTransform)
        XCTAssertEqual([train.image.channels, train.image.height, train.image.width], [3, 12, 12])
        XCTAssertEqual(train.label, raw.label)

        // An explicit size resizes; no validation split trains on everything.
        let resized = try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0, validationSplit: 0, imageSize: 8)
        XCTAssertEqual(resized.preprocessing.size, 8)
        XCTAssertNil(resized.validation)
        XCTAssertEqual(resized.train.count, 30)
        let small = transformed(try resized.train.sample(at: 0), resized.trainTransform)
        XCTAssertEqual([small.image.height, small.image.width], [8, 8])
    }

    func testLargeImagesDefaultTo128Pixels() throws {
        let root = directory.appendingPathComponent("large")
        try ToolsTestData.writeClassFolder(root, classes: Array(ToolsTestData.colours.prefix(2)), perClass: 1, side: 90, height: 70, seed: 1)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, validationSplit: 0)
        XCTAssertEqual(prepared.preprocessing.size, 128)
        let eval = transformed(try prepared.train.sample(at: 0), prepared.evalTransform)
        XCTAssertEqual([eval.image.height, eval.image.width], [128, 128], "shorter side to 128, then a centre crop")
    }

    func testTrainAndTestTreesValidateOnTheTestTree() throws {
        let root = directory.appendingPathComponent("split")
        try ToolsTestData.writeClassFolder(root.appendingPathComponent("train"), classes: ToolsTestData.colours, perClass: 4, side: 8, seed: 1)
        try ToolsTestData.writeClassFolder(root.appendingPathComponent("test"), classes: ToolsTestData.colours, perClass: 2, side: 8, seed: 2)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0)
        XCTAssertEqual(prepared.task, .classification)
        XCTAssertEqual(prepared.train.count, 12)
        XCTAssertEqual(prepared.validation?.count, 6)
        XCTAssertTrue(prepared.validationSource.contains("test"), prepared.validationSource)
        XCTAssertEqual(prepared.classNames, ["blue", "green", "red"])

        // An explicit split holds out part of train/ instead.
        let held = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, validationSplit: 0.25)
        XCTAssertEqual(held.train.count, 9)
        XCTAssertEqual(held.validation?.count, 3)

        // evaluate scores the test tree; a plain folder is scored whole.
        let config = RunConfig(model: "resnet20", modelOptions: ModelOptions(numClasses: 3), data: root.path, task: .classification,
                               classNames: prepared.classNames, preprocessing: prepared.preprocessing)
        XCTAssertEqual(try DataSetup.evaluationSet(data: root.path, config: config).validation?.count, 6)
        XCTAssertEqual(try DataSetup.evaluationSet(data: root.appendingPathComponent("train").path, config: config).validation?.count, 12)

        // Different classes in test/ are an error naming both lists.
        try ToolsTestData.writeClassFolder(root.appendingPathComponent("test"), classes: [("purple", (120, 0, 120))], perClass: 1, side: 8, seed: 3)
        XCTAssertThrowsError(try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("purple"), "\(error)")
        }
    }

    /// `evaluate --held-out` scores at the run's input size even when the folder's images are another size
    /// (a VGG's small head takes exactly the trained size), with the run's split.
    func testHeldOutSetKeepsTheRunsInputSize() throws {
        let root = directory.appendingPathComponent("held-out-sizes")
        try ToolsTestData.writeClassFolder(root, classes: ToolsTestData.colours, perClass: 4, side: 16, seed: 1)
        var config = RunConfig(model: "resnet20", modelOptions: ModelOptions(numClasses: 3), data: root.path, task: .classification,
                               classNames: ["blue", "green", "red"],
                               preprocessing: Preprocessing(channels: 3, size: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]))
        config.validationSplit = 0.25
        config.seed = 5
        let prepared = try DataSetup.heldOutSet(data: root.path, config: config)
        XCTAssertEqual(prepared.preprocessing.size, 8)
        XCTAssertEqual(prepared.preprocessing.mean, [0.5, 0.5, 0.5])
        XCTAssertTrue(prepared.validationIsHeldOut)
        XCTAssertEqual(prepared.validation?.count, 3)
        // The same images the training run held out (its seed and split), named by their files.
        let training = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: config.seed, validationSplit: 0.25)
        let held = try XCTUnwrap(prepared.validation), trainingHeld = try XCTUnwrap(training.validation)
        let paths = (0..<held.count).map { held.sourcePath(at: $0) }
        XCTAssertEqual(paths, (0..<trainingHeld.count).map { trainingHeld.sourcePath(at: $0) })
        XCTAssertTrue(paths.allSatisfy { $0?.hasPrefix(root.path) == true && $0?.hasSuffix(".png") == true }, "\(paths)")
        let loader = DataLoader(held, batchSize: 3, transform: prepared.evalTransform)
        var shapes: [[Int]] = []
        try loader.forEachBatch(epoch: 0) { shapes.append($0.images.shape) }
        XCTAssertEqual(shapes, [[3, 3, 8, 8]])
    }

    func testLimitCapsTrainingAndValidation() throws {
        let root = directory.appendingPathComponent("colours")
        try ToolsTestData.writeClassFolder(root, classes: ToolsTestData.colours, perClass: 10, side: 8, seed: 1)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, limit: 5, validationSplit: 0.5)
        XCTAssertEqual(prepared.train.count, 5)
        XCTAssertEqual(prepared.validation?.count, 5)
        XCTAssertTrue(prepared.validationSource.contains("15 held-out") && prepared.validationSource.contains("5 of them"),
                      "the capped count is reported: \(prepared.validationSource)")
        XCTAssertThrowsError(try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, limit: 0))
        XCTAssertThrowsError(try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, validationSplit: 1))
    }

    func testNormalisationOverrideMustMatchTheChannels() throws {
        let root = directory.appendingPathComponent("colours")
        try ToolsTestData.writeClassFolder(root, classes: ToolsTestData.colours, perClass: 2, side: 8, seed: 1)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0,
                                             normalization: ([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]))
        XCTAssertEqual(prepared.preprocessing.mean, [0.1, 0.2, 0.3])
        XCTAssertEqual(prepared.preprocessing.std, [0.5, 0.5, 0.5])
        let raw = try prepared.train.sample(at: 0)
        XCTAssertEqual(transformed(raw, prepared.evalTransform).image.pixels[0], (raw.image.pixels[0] - 0.1) / 0.5, accuracy: 1e-5)
        XCTAssertThrowsError(try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0, normalization: ([0.5], [0.5])))
    }

    // MARK: Segmentation folders

    func testImageAndLabelFoldersAreSegmentationWithBinaryMasks() throws {
        let root = directory.appendingPathComponent("cells")
        try ToolsTestData.writeSegmentationFolder(root, count: 5, side: 8)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, imageSize: 8)
        XCTAssertEqual(prepared.task, .segmentation)
        XCTAssertEqual(prepared.classNames, ["background", "foreground"])
        XCTAssertEqual(prepared.preprocessing, Preprocessing(channels: 1, size: nil, mean: [0.5], std: [0.5]))
        XCTAssertEqual(prepared.train.count, 4, "a fifth is held out for segmentation")
        XCTAssertEqual(prepared.validation?.count, 1)
        let sample = try prepared.train.sample(at: 0)
        let mask = try XCTUnwrap(sample.mask)
        XCTAssertEqual(Set(mask.labels), [0, 1], "0/255 masks become classes 0 and 1")
        XCTAssertEqual(mask.labels.filter { $0 == 1 }.count, 16, "the 4×4 square")
        let train = transformed(sample, prepared.trainTransform)
        XCTAssertEqual(train.mask?.labels.filter { $0 == 1 }.count, 16, "flips and quarter turns move the mask with the image")
    }

    func testClassIndexMasksGiveOneClassPerValue() throws {
        let root = directory.appendingPathComponent("parts")
        try ToolsTestData.writeSegmentationFolder(root, count: 3, side: 8, labelValues: [0, 1, 2])
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0, validationSplit: 0, imageSize: 8)
        XCTAssertEqual(prepared.task, .segmentation)
        XCTAssertEqual(prepared.classNames, ["class0", "class1", "class2"])
        XCTAssertEqual(Set(try XCTUnwrap(try prepared.train.sample(at: 0).mask).labels), [0, 1, 2])
    }

    /// In class-index masks 255 marks unlabelled pixels (PASCAL VOC's boundaries; torchvision's ignore_index):
    /// not a class, and ignored by the loss and the metrics.
    func testValue255InClassIndexMasksIsIgnoredNotAClass() throws {
        let root = directory.appendingPathComponent("voc-like")
        try ToolsTestData.writeSegmentationFolder(root, count: 3, side: 8, labelValues: [0, 1, 2, 255])
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0, validationSplit: 0, imageSize: 8)
        XCTAssertEqual(prepared.classNames, ["class0", "class1", "class2"])
        let labels = try XCTUnwrap(try prepared.train.sample(at: 0).mask).labels
        XCTAssertEqual(Set(labels), [0, 1, 2, LabelMask.ignored])
        XCTAssertFalse(labels.contains(255))
        // Evaluation skips those pixels in the loss and the confusion matrix.
        let unet = try ModelRegistry.build("unet", options: ModelOptions(numClasses: 3, inChannels: 1, base: 4, depth: 2))
        let loader = DataLoader(prepared.train, batchSize: 1, transform: prepared.evalTransform)
        let result = try Evaluator.evaluate(unet, loader: loader, task: .segmentation, classes: 3)
        var labelled = 0
        for k in 0..<prepared.train.count {
            labelled += try XCTUnwrap(try prepared.train.sample(at: k).mask).labels.filter { $0 != LabelMask.ignored }.count
        }
        XCTAssertEqual(result.count, 3)
        XCTAssertTrue(result.meanLoss.isFinite && result.meanLoss > 0, "\(result.meanLoss)")
        XCTAssertEqual(result.confusion.counts.joined().reduce(0, +), labelled)
        XCTAssertLessThan(labelled, 3 * 64)
    }

    /// Masks whose first images show only background are still read as class indices when later
    /// ones hold 1 and 2 (thresholding at 128 would turn them all into background).
    func testClassIndexMasksAreRecognisedPastEmptyFirstMasks() throws {
        let root = directory.appendingPathComponent("sparse-parts")
        try ToolsTestData.writeSegmentationFolder(root, count: 12, side: 8, labelValues: [0, 1, 2])
        for k in 0..<10 {
            try ImageIO.writePNG(Image(height: 8, width: 8, channels: 1, pixels: [UInt8](repeating: 0, count: 64)),
                                 to: root.appendingPathComponent("label").appendingPathComponent(String(format: "%02d.png", k)))
        }
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "none", seed: 0, validationSplit: 0, imageSize: 8)
        XCTAssertEqual(prepared.classNames, ["class0", "class1", "class2"])
    }

    /// A training crop larger than the images pads them (the padding labelled ignored) instead of failing.
    func testSegmentationCropLargerThanTheImagesPads() throws {
        let root = directory.appendingPathComponent("small-cells")
        try ToolsTestData.writeSegmentationFolder(root, count: 5, side: 8)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, imageSize: 12)
        let sample = transformed(try prepared.train.sample(at: 0), prepared.trainTransform)
        XCTAssertEqual([sample.image.height, sample.image.width], [12, 12])
        let labels = try XCTUnwrap(sample.mask).labels
        XCTAssertEqual(labels.filter { $0 == LabelMask.ignored }.count, 144 - 64, "everything outside the 8×8 image")
        XCTAssertEqual(labels.filter { $0 == 1 }.count, 16, "the 4×4 square")
    }

    /// `evaluate` scores a segmentation folder's test tree, as training validated on it — not a
    /// split of train/ (whatever split the run recorded).
    func testEvaluationOfASegmentationFolderUsesItsTestTree() throws {
        let root = directory.appendingPathComponent("seg-eval")
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("train"), count: 5, side: 8)
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("test"), count: 2, side: 8)
        var config = RunConfig(model: "unet", modelOptions: ModelOptions(numClasses: 2, inChannels: 1), data: root.path,
                               task: .segmentation, classNames: ["background", "foreground"],
                               preprocessing: Preprocessing(channels: 1, size: nil, mean: [0.5], std: [0.5]))
        for split in [nil, 0.2] as [Double?] {
            config.validationSplit = split
            let prepared = try DataSetup.evaluationSet(data: root.path, config: config)
            XCTAssertEqual(prepared.validation?.count, 2, "split \(String(describing: split))")
            XCTAssertTrue(prepared.validationSource.contains("test"), prepared.validationSource)
        }
    }

    func testSegmentationTrainAndTestTrees() throws {
        let root = directory.appendingPathComponent("seg-split")
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("train"), count: 4, side: 8)
        try ToolsTestData.writeSegmentationFolder(root.appendingPathComponent("test"), count: 2, side: 8)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0, imageSize: 8)
        XCTAssertEqual(prepared.task, .segmentation)
        XCTAssertEqual(prepared.train.count, 4)
        XCTAssertEqual(prepared.validation?.count, 2)
    }

    // MARK: Named datasets

    func testPerDatasetNormalisation() {
        let cases: [(String, Int, [Float], [Float])] = [
            ("cifar", 3, [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
            ("CIFAR10", 3, [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
            ("cifar100", 3, [0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]),
            ("fashion-mnist", 1, [0.2860], [0.3530]),
            ("mnist", 1, [0.1307], [0.3081]),
            ("isbi2012", 1, [0.5], [0.5]),
            ("my-photos", 3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ("my-scans", 1, [0.5], [0.5]),
        ]
        for (name, channels, mean, std) in cases {
            let n = DatasetDefaults.normalization(for: name, channels: channels)
            XCTAssertEqual(n.mean, mean, name)
            XCTAssertEqual(n.std, std, name)
        }
    }

    func testNamedCIFARFromVisionDataUsesItsTestSplitAndStatistics() throws {
        try ToolsTestData.writeCIFAR10(directory, perBatch: 2, testRecords: 3)
        let previous = ProcessInfo.processInfo.environment["VISION_DATA"]
        setenv("VISION_DATA", directory.path, 1)
        defer { if let previous { setenv("VISION_DATA", previous, 1) } else { unsetenv("VISION_DATA") } }
        let prepared = try DataSetup.prepare(data: "cifar", augmentation: "standard", seed: 0)
        XCTAssertEqual(prepared.task, .classification)
        XCTAssertEqual(prepared.train.count, 10)
        XCTAssertEqual(prepared.validation?.count, 3)
        XCTAssertTrue(prepared.validationSource.contains("test split"), prepared.validationSource)
        XCTAssertEqual(prepared.classNames.count, 10)
        XCTAssertEqual(prepared.preprocessing, Preprocessing(channels: 3, size: 32, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]))
    }

    /// A cifar10/{train,test}/<class>/ image tree whose test split has other classes would score labels
    /// against the wrong outputs (or past them); it is refused naming both lists.
    func testNamedImageTreeWhoseTestClassesDifferIsRefused() throws {
        let tree = directory.appendingPathComponent("cifar10")
        try ToolsTestData.writeClassFolder(tree.appendingPathComponent("train"), classes: ToolsTestData.colours, perClass: 2, side: 8, seed: 1)
        try ToolsTestData.writeClassFolder(tree.appendingPathComponent("test"), classes: ToolsTestData.colours + [("purple", (120, 0, 120))],
                                           perClass: 1, side: 8, seed: 2)
        let previous = ProcessInfo.processInfo.environment["VISION_DATA"]
        setenv("VISION_DATA", directory.path, 1)
        defer { if let previous { setenv("VISION_DATA", previous, 1) } else { unsetenv("VISION_DATA") } }
        XCTAssertThrowsError(try DataSetup.prepare(data: "cifar", augmentation: "standard", seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("purple") && "\(error)".contains("blue, green, red"), "\(error)")
        }
        try FileManager.default.removeItem(at: tree.appendingPathComponent("test/purple"))
        XCTAssertEqual(try DataSetup.prepare(data: "cifar", augmentation: "standard", seed: 0).validation?.count, 3)
    }

    /// A plain class folder is scored whole even when a class is called "val" or "test"; a single class
    /// folder is not something a classifier can learn from.
    func testClassNamedValIsAClassAndOneClassIsRefused() throws {
        let root = directory.appendingPathComponent("plain")
        try ToolsTestData.writeClassFolder(root, classes: [("apple", (200, 30, 30)), ("val", (30, 200, 30)), ("zebra", (30, 30, 200))],
                                           perClass: 3, side: 8, seed: 1)
        let prepared = try DataSetup.prepare(data: root.path, augmentation: "standard", seed: 0)
        let config = RunConfig(model: "resnet20", modelOptions: ModelOptions(numClasses: 3), data: root.path, task: .classification,
                               classNames: prepared.classNames, preprocessing: prepared.preprocessing)
        XCTAssertEqual(try DataSetup.evaluationSet(data: root.path, config: config).validation?.count, 9)
        let single = directory.appendingPathComponent("single")
        try ToolsTestData.writeClassFolder(single, classes: [("only", (90, 90, 90))], perClass: 3, side: 8, seed: 1)
        XCTAssertThrowsError(try DataSetup.prepare(data: single.path, augmentation: "standard", seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("at least 2 class folders") && "\(error)".contains("only"), "\(error)")
        }
    }

    func testUnknownDatasetNameIsNamedInTheError() {
        XCTAssertThrowsError(try DataSetup.prepare(data: "imagenet-21k", augmentation: "standard", seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("imagenet-21k"), "\(error)")
            XCTAssertTrue("\(error)".contains("cifar"), "the message lists the known names: \(error)")
        }
    }

    // MARK: Transforms

    func testFitSizeResizesTheShorterSideThenCentreCrops() {
        var g = SeededGenerator(seed: 0)
        // 4×6 (H×W), already 4 on the shorter side: only the centre crop, columns 1…4.
        let pixels = (0..<24).map(Float.init)
        var image = FloatImage(channels: 1, height: 4, width: 6, pixels: pixels)
        var mask: LabelMask? = LabelMask(height: 4, width: 6, labels: (0..<24).map { $0 % 6 })
        FitSize(size: 4).apply(&image, mask: &mask, generator: &g)
        XCTAssertEqual([image.height, image.width], [4, 4])
        XCTAssertEqual(Array(image.pixels[0..<4]), [1, 2, 3, 4])
        XCTAssertEqual(mask?.labels[0..<4].map { $0 }, [1, 2, 3, 4], "the mask is cropped with the image")

        // 8×12 → shorter side 4 → 4×6 → centre 4×4.
        var big = FloatImage(channels: 3, height: 8, width: 12, value: 0.25)
        var none: LabelMask? = nil
        FitSize(size: 4).apply(&big, mask: &none, generator: &g)
        XCTAssertEqual([big.channels, big.height, big.width], [3, 4, 4])
        XCTAssertTrue(big.pixels.allSatisfy { abs($0 - 0.25) < 1e-6 }, "a flat image stays flat")

        // Already the right size: untouched.
        let square = FloatImage(channels: 1, height: 3, width: 3, pixels: (0..<9).map(Float.init))
        var same = square
        FitSize(size: 3).apply(&same, mask: &none, generator: &g)
        XCTAssertEqual(same, square)

        // Smaller images are enlarged.
        var tiny = FloatImage(channels: 1, height: 2, width: 2, value: 1)
        FitSize(size: 5).apply(&tiny, mask: &none, generator: &g)
        XCTAssertEqual([tiny.height, tiny.width], [5, 5])

        // A strip 200 times wider than tall keeps its centre (values = column index, 198…201 there)
        // without resizing the whole strip first.
        var strip = FloatImage(channels: 1, height: 2, width: 400, pixels: (0..<800).map { Float($0 % 400) })
        FitSize(size: 4).apply(&strip, mask: &none, generator: &g)
        XCTAssertEqual([strip.height, strip.width], [4, 4])
        XCTAssertTrue(strip.pixels.allSatisfy { (197...203).contains($0) }, "\(strip.pixels)")
    }

    func testMatchChannelsConvertsGrayColourAndAlpha() {
        var g = SeededGenerator(seed: 0)
        var none: LabelMask? = nil
        // RGB → gray with the luma weights.
        var rgb = FloatImage(channels: 3, height: 1, width: 2, pixels: [1, 0, 0, 1, 0, 0])
        MatchChannels(channels: 1).apply(&rgb, mask: &none, generator: &g)
        XCTAssertEqual(rgb.channels, 1)
        XCTAssertEqual(rgb.pixels[0], ColorOps.lumaWeights.0, accuracy: 1e-6)
        XCTAssertEqual(rgb.pixels[1], ColorOps.lumaWeights.1, accuracy: 1e-6)

        // Gray → RGB repeats the plane.
        var gray = FloatImage(channels: 1, height: 1, width: 2, pixels: [0.2, 0.7])
        MatchChannels(channels: 3).apply(&gray, mask: &none, generator: &g)
        XCTAssertEqual(gray.pixels, [0.2, 0.7, 0.2, 0.7, 0.2, 0.7])

        // RGBA → RGB drops alpha; gray + alpha → gray and → RGB.
        var rgba = FloatImage(channels: 4, height: 1, width: 1, pixels: [0.1, 0.2, 0.3, 1])
        MatchChannels(channels: 3).apply(&rgba, mask: &none, generator: &g)
        XCTAssertEqual(rgba.pixels, [0.1, 0.2, 0.3])
        var grayAlpha = FloatImage(channels: 2, height: 1, width: 1, pixels: [0.4, 0.9])
        var grayAlpha3 = grayAlpha
        MatchChannels(channels: 1).apply(&grayAlpha, mask: &none, generator: &g)
        XCTAssertEqual(grayAlpha.pixels, [0.4])
        MatchChannels(channels: 3).apply(&grayAlpha3, mask: &none, generator: &g)
        XCTAssertEqual(grayAlpha3.pixels, [0.4, 0.4, 0.4])
        var rgbaToGray = FloatImage(channels: 4, height: 1, width: 1, pixels: [0, 1, 0, 0.5])
        MatchChannels(channels: 1).apply(&rgbaToGray, mask: &none, generator: &g)
        XCTAssertEqual(rgbaToGray.pixels[0], ColorOps.lumaWeights.1, accuracy: 1e-6)

        // Matching channels: untouched.
        let before = FloatImage(channels: 3, height: 1, width: 1, pixels: [0.1, 0.5, 0.9])
        var after = before
        MatchChannels(channels: 3).apply(&after, mask: &none, generator: &g)
        XCTAssertEqual(after, before)
    }
}

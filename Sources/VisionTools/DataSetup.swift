import Foundation
import VisionCore
import VisionData
import VisionImage

/// Datasets, preprocessing and augmentation for one run, chosen from a dataset name or a folder.
public struct PreparedData {
    public var train: any Dataset
    /// Evaluated after each epoch: the dataset's test split, or a held-out part of the training set.
    public var validation: (any Dataset)?
    /// Describes where `validation` comes from, for the log.
    public var validationSource: String
    /// Whether `validation` was held out of the training images (rather than a separate test split).
    public var validationIsHeldOut = false
    public var task: Task
    public var classNames: [String]
    public var preprocessing: Preprocessing
    public var trainTransform: any Transform
    public var evalTransform: any Transform
}

/// Per-dataset statistics and defaults that torchvision users know.
public enum DatasetDefaults {
    public static func normalization(for name: String, channels: Int) -> (mean: [Float], std: [Float]) {
        switch name.lowercased() {
        case "cifar", "cifar10", "cifar-10": return ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
        case "cifar100", "cifar-100": return ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762])
        case "fashion-mnist", "fashionmnist", "fashion_mnist": return ([0.2860], [0.3530])
        case "mnist": return ([0.1307], [0.3081])
        case "isbi2012", "isbi", "isbi2012-membrane": return ([0.5], [0.5])
        default:
            return channels == 3 ? ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
                                 : (Array(repeating: 0.5, count: channels), Array(repeating: 0.5, count: channels))
        }
    }
}

/// Resizes so the shorter side equals `size`, then centre-crops to `size`×`size` (a no-op when the
/// image already has that size).
public struct FitSize: Transform {
    public let size: Int
    public init(size: Int) { self.size = size }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        if image.height == size && image.width == size { return }
        var m = mask
        // A very elongated image (a 1×65535 strip) would be resized to a huge intermediate; its centre,
        // with a wide margin for the resampling filter, is all the crop below keeps.
        let short = min(image.height, image.width)
        if max(image.height, image.width) > 4 * short {
            let window = image.height > image.width ? (4 * short, short) : (short, 4 * short)
            CenterCrop(size: window).apply(&image, mask: &m, generator: &generator)
        }
        if min(image.height, image.width) != size {
            Resize(shorterSide: size).apply(&image, mask: &m, generator: &generator)
        }
        CenterCrop(size: size).apply(&image, mask: &m, generator: &generator)
        mask = m
    }
}

/// Converts images to the channel count the network expects (gray ↔ RGB, alpha dropped).
public struct MatchChannels: Transform {
    public let channels: Int
    public init(channels: Int) { self.channels = channels }

    public func apply(_ image: inout FloatImage, mask: inout LabelMask?, generator: inout SeededGenerator) {
        if image.channels == channels { return }
        if channels == 1 {
            image = ColorOps.grayscale(image.channels == 4 || image.channels == 2 ? dropAlpha(image) : image, outputChannels: 1)
        } else if channels == 3 {
            let base = image.channels == 2 || image.channels == 4 ? dropAlpha(image) : image
            image = base.channels == 1 ? ColorOps.grayscale(base, outputChannels: 3) : base
        }
    }

    private func dropAlpha(_ image: FloatImage) -> FloatImage {
        let keep = image.channels - 1
        return FloatImage(channels: keep, height: image.height, width: image.width,
                          pixels: Array(image.pixels[0..<(keep * image.planeSize)]))
    }
}

public enum DataSetup {
    /// Resolves `data` (a catalogue name or a folder) and builds datasets and transforms.
    /// - Parameters:
    ///   - limit: train on the first `limit` samples of a seeded permutation (validation is capped at the same count).
    ///   - validationSplit: fraction held out of the training set; nil uses the test split when the
    ///     dataset has one, else 0.1 of the training set.
    ///   - imageSize: classification input side for folders / segmentation training crop; nil picks a default.
    ///   - erasing: random-erasing probability for classification training (nil: the preset's).
    ///   - cropPadding: zero padding on each side before the random crop of classification training
    ///     (nil: about an eighth of the side, at least 2 pixels; unused above 64 px, where a random
    ///     resized crop is taken).
    public static func prepare(data: String, augmentation: String, seed: UInt64, limit: Int? = nil,
                               validationSplit: Double? = nil, imageSize: Int? = nil,
                               normalization: (mean: [Float], std: [Float])? = nil, erasing: Float? = nil,
                               cropPadding: Int? = nil) throws -> PreparedData {
        if let erasing, !(erasing >= 0 && erasing <= 1) {
            throw ToolError.invalidOption("--erasing must be in [0, 1], got \(erasing)")
        }
        if let cropPadding, !(0...1024).contains(cropPadding) {
            throw ToolError.invalidOption("--crop-padding must be between 0 and 1024, got \(cropPadding)")
        }
        let url = URL(fileURLWithPath: data)
        var isDirectory: ObjCBool = false
        let isFolder = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        var prepared: PreparedData
        if isFolder {
            prepared = try prepareFolder(url, augmentation: augmentation, imageSize: imageSize, validationSplit: validationSplit,
                                         seed: seed, normalization: normalization, erasing: erasing, cropPadding: cropPadding)
        } else {
            prepared = try prepareNamed(data, augmentation: augmentation, imageSize: imageSize, validationSplit: validationSplit,
                                        seed: seed, normalization: normalization, erasing: erasing, cropPadding: cropPadding)
        }
        if let limit {
            guard limit > 0 else { throw ToolError.invalidOption("--limit must be positive, got \(limit)") }
            prepared.train = head(prepared.train, limit, seed: seed)
            if let v = prepared.validation, v.count > limit {
                prepared.validation = head(v, limit, seed: seed &+ 1)
                prepared.validationSource += ", a seeded \(limit) of them (--limit)"
            }
        }
        guard prepared.train.count > 0 else {
            throw ToolError.incompatibleData("\(data): the training set is empty"
                + (validationSplit.map { " after holding out --val-split \($0) of it for validation; lower --val-split" } ?? ""))
        }
        return prepared
    }

    /// The given normalisation (e.g. a pretrained backbone's), checked against the channel count, or the dataset default.
    static func statistics(_ given: (mean: [Float], std: [Float])?, default name: String, channels: Int,
                           data: String) throws -> (mean: [Float], std: [Float]) {
        guard let given else { return DatasetDefaults.normalization(for: name, channels: channels) }
        guard given.mean.count == channels, given.std.count == channels else {
            throw ToolError.incompatibleData("the model takes \(given.mean.count)-channel images (its normalisation has \(given.mean.count) values), but \(data) has \(channels)-channel images")
        }
        return given
    }

    /// The first `count` samples of a seeded permutation (all when the set is smaller).
    public static func head(_ dataset: any Dataset, _ count: Int, seed: UInt64) -> any Dataset {
        if dataset.count <= count { return dataset }
        var g = SeededGenerator(seed: seed ^ 0x5EED)
        return Subset(dataset, indices: Array(shuffledIndices(dataset.count, generator: &g).prefix(count)))
    }

    static func split(_ dataset: any Dataset, fraction: Double, seed: UInt64) throws -> (any Dataset, (any Dataset)?) {
        guard fraction >= 0 && fraction < 1 else { throw ToolError.invalidOption("--val-split must be in [0, 1), got \(fraction)") }
        let held = Int((Double(dataset.count) * fraction).rounded())
        if held == 0 { return (dataset, nil) }
        let parts = randomSplit(dataset, counts: [dataset.count - held, held], seed: seed)
        return (parts[0], parts[1])
    }

    static func prepareNamed(_ name: String, augmentation: String, imageSize: Int?, validationSplit: Double?,
                             seed: UInt64, normalization: (mean: [Float], std: [Float])?, erasing: Float?,
                             cropPadding: Int?) throws -> PreparedData {
        let lower = name.lowercased()
        guard DatasetCatalog.names.contains(lower) || ["cifar-10", "cifar-100", "fashionmnist", "fashion_mnist", "isbi", "isbi2012-membrane"].contains(lower) else {
            throw ToolError.invalidOption("unknown dataset '\(name)': not a folder, and not one of \(DatasetCatalog.names.joined(separator: ", "))")
        }
        let train = try DatasetCatalog.load(name, split: .train)
        let isSegmentation = ["isbi2012", "isbi", "isbi2012-membrane"].contains(lower)
        let probe = try train.sample(at: 0)
        let channels = probe.image.channels
        let (mean, std) = try statistics(normalization, default: lower, channels: channels, data: name)
        if isSegmentation {
            let (t, v) = try split(train, fraction: validationSplit ?? 0.2, seed: seed)
            let crop = imageSize ?? 256
            return PreparedData(train: t, validation: v, validationSource: "\(v?.count ?? 0) held-out training images", validationIsHeldOut: v != nil,
                                task: .segmentation, classNames: train.classNames,
                                preprocessing: Preprocessing(channels: channels, size: nil, mean: mean, std: std),
                                trainTransform: segmentationTransform(augmentation, crop: crop, channels: channels, mean: mean, std: std),
                                evalTransform: Compose([MatchChannels(channels: channels), Normalize(mean: mean, std: std)]))
        }
        let side = imageSize ?? max(probe.image.height, probe.image.width)
        var validation: (any Dataset)?
        var source: String
        var heldOut = false
        var trainSet: any Dataset = train
        if let fraction = validationSplit, fraction > 0 {
            (trainSet, validation) = try split(train, fraction: fraction, seed: seed)
            source = "\(validation?.count ?? 0) held-out training images"
            heldOut = validation != nil
        } else {
            let test = try DatasetCatalog.load(name, split: .test)
            guard test.classNames == train.classNames else {
                throw ToolError.incompatibleData("\(name): the test split's classes \(Trainer.listed(test.classNames)) differ from the training classes \(Trainer.listed(train.classNames))")
            }
            validation = test
            source = "the test split (\(test.count) images)"
        }
        let padding = cropPadding ?? (side >= 32 ? side / 8 : max(2, side / 14))
        return PreparedData(train: trainSet, validation: validation, validationSource: source, validationIsHeldOut: heldOut, task: .classification,
                            classNames: train.classNames,
                            preprocessing: Preprocessing(channels: channels, size: side, mean: mean, std: std),
                            trainTransform: classificationTransform(augmentation, size: side, padding: padding, channels: channels,
                                                                    largeImages: false, mean: mean, std: std, erasing: erasing),
                            evalTransform: Compose([MatchChannels(channels: channels), FitSize(size: side), Normalize(mean: mean, std: std)]))
    }

    static func prepareFolder(_ root: URL, augmentation: String, imageSize: Int?, validationSplit: Double?,
                              seed: UInt64, normalization: (mean: [Float], std: [Float])?, erasing: Float?,
                              cropPadding: Int?) throws -> PreparedData {
        let fm = FileManager.default
        func isDir(_ u: URL) -> Bool {
            var d: ObjCBool = false
            return fm.fileExists(atPath: u.path, isDirectory: &d) && d.boolValue
        }
        let isSegmentation: (URL) -> Bool = { r in
            (isDir(r.appendingPathComponent("image")) || isDir(r.appendingPathComponent("images")))
                && ["label", "labels", "mask", "masks"].contains { isDir(r.appendingPathComponent($0)) }
        }
        let trainRoot = root.appendingPathComponent("train")
        let testRoot = ["test", "val", "validation"].map(root.appendingPathComponent).first(where: isDir)
        let splitRoots = isDir(trainRoot) && testRoot != nil

        if isSegmentation(root) || (splitRoots && isSegmentation(trainRoot)) {
            let trainFolder = splitRoots ? trainRoot : root
            var (train, encoding, classes) = try openSegmentation(trainFolder)
            train.applyEXIFOrientation = true
            var validation: (any Dataset)?
            var trainSet: any Dataset = train
            var source: String
            var heldOut = false
            if splitRoots, let testRoot, isSegmentation(testRoot), validationSplit == nil {
                var test = try SegmentationFolder(root: testRoot, encoding: encoding, classNames: classes)
                test.applyEXIFOrientation = true
                validation = test
                source = "\(testRoot.path) (\(validation!.count) images)"
            } else {
                (trainSet, validation) = try split(train, fraction: validationSplit ?? 0.2, seed: seed)
                source = "\(validation?.count ?? 0) held-out training images"
                heldOut = validation != nil
            }
            let channels = try train.sample(at: 0).image.channels
            let (mean, std) = try statistics(normalization, default: "", channels: channels, data: root.path)
            return PreparedData(train: trainSet, validation: validation, validationSource: source, validationIsHeldOut: heldOut, task: .segmentation,
                                classNames: classes, preprocessing: Preprocessing(channels: channels, size: nil, mean: mean, std: std),
                                trainTransform: segmentationTransform(augmentation, crop: imageSize ?? 256, channels: channels, mean: mean, std: std),
                                evalTransform: Compose([MatchChannels(channels: channels), Normalize(mean: mean, std: std)]))
        }

        var train = try ImageFolder(root: splitRoots ? trainRoot : root, channels: 3)
        train.applyEXIFOrientation = true
        guard train.classNames.count >= 2 else {
            throw ToolError.incompatibleData("\(train.root.path): a classifier needs at least 2 class folders, found \(train.classNames.count) (\(train.classNames.joined(separator: ", ")))")
        }
        var trainSet: any Dataset = train
        var validation: (any Dataset)?
        var source: String
        var heldOut = false
        if splitRoots, let testRoot, validationSplit == nil {
            var test = try ImageFolder(root: testRoot, channels: 3)
            test.applyEXIFOrientation = true
            guard test.classNames == train.classNames else {
                throw ToolError.incompatibleData("\(testRoot.path): classes \(test.classNames) differ from the training classes \(train.classNames)")
            }
            validation = test
            source = "\(testRoot.path) (\(test.count) images)"
        } else {
            (trainSet, validation) = try split(train, fraction: validationSplit ?? 0.1, seed: seed)
            source = "\(validation?.count ?? 0) held-out training images"
            heldOut = validation != nil
        }
        let probe = try train.sample(at: 0).image
        let (side, padding) = folderGeometry(height: probe.height, width: probe.width, imageSize: imageSize, cropPadding: cropPadding)
        let (mean, std) = try statistics(normalization, default: "", channels: 3, data: root.path)
        return PreparedData(train: trainSet, validation: validation, validationSource: source, validationIsHeldOut: heldOut, task: .classification,
                            classNames: train.classNames, preprocessing: Preprocessing(channels: 3, size: side, mean: mean, std: std),
                            trainTransform: classificationTransform(augmentation, size: side, padding: padding, channels: 3,
                                                                    largeImages: side > 64, mean: mean, std: std, erasing: erasing),
                            evalTransform: Compose([MatchChannels(channels: 3), FitSize(size: side), Normalize(mean: mean, std: std)]))
    }

    /// The input side and crop padding of a classification image folder whose first image is `height × width`:
    /// `imageSize`, else the shorter side when it is at most 64 (else 128); `cropPadding`, else an eighth of the
    /// side, at least 2. Sides above 64 take a random resized crop instead of the padded one.
    public static func folderGeometry(height: Int, width: Int, imageSize: Int?, cropPadding: Int?) -> (side: Int, padding: Int) {
        let native = min(height, width)
        let side = imageSize ?? (native <= 64 ? native : 128)
        return (side, cropPadding ?? max(2, side / 8))
    }

    /// The labelled images `evaluate` scores: a named dataset's test split (ISBI: the held-out part of
    /// training, as in training), a folder's `test/` (or `val/`) tree, or every image of a plain folder.
    public static func evaluationSet(data: String, config: RunConfig) throws -> PreparedData {
        let url = URL(fileURLWithPath: data)
        var isDirectory: ObjCBool = false
        let isFolder = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        // The train/ + test/ layout prepareFolder splits on; a class named "val" in a plain folder is not one.
        func isSubfolder(_ name: String) -> Bool {
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }
        let hasTestTree = isSubfolder("train") && ["test", "val", "validation"].contains(where: isSubfolder)
        // A folder: its test tree, else all of it. A named dataset: its test split (ISBI: the run's held-out part).
        let fraction: Double? = isFolder ? (hasTestTree ? nil : 0) : (config.task == .segmentation ? (config.validationSplit ?? 0.2) : nil)
        var prepared = try prepare(data: data, augmentation: "none", seed: config.seed, validationSplit: fraction,
                                   imageSize: config.preprocessing.size ?? config.imageSize,
                                   normalization: (config.preprocessing.mean, config.preprocessing.std))
        if isFolder && !hasTestTree {
            prepared.validation = prepared.train
            prepared.validationIsHeldOut = false
            prepared.validationSource = "all \(prepared.train.count) images of \(data)"
        }
        return prepared
    }

    /// The images a training run held out for validation (its seed, split and limit), prepared at the run's
    /// input size and with its statistics whatever the data's native size (`evaluate --held-out`).
    public static func heldOutSet(data: String, config: RunConfig) throws -> PreparedData {
        try prepare(data: data, augmentation: "none", seed: config.seed, limit: config.limit, validationSplit: config.validationSplit,
                    imageSize: config.preprocessing.size ?? config.imageSize,
                    normalization: (config.preprocessing.mean, config.preprocessing.std))
    }

    /// Opens a segmentation folder, detecting 0/255 binary masks (thresholded) versus class-index masks.
    static func openSegmentation(_ root: URL) throws -> (SegmentationFolder, SegmentationFolder.LabelEncoding, [String]) {
        let raw = try SegmentationFolder(root: root, encoding: .classIndices)
        // At least 8 masks, and on until one is not all 0 (else class-index masks whose first images
        // show only background would pass for 0/255 ones and be thresholded to nothing). Stored values:
        // the folder's samples already turn 255 into LabelMask.ignored.
        var values = Set<Int>()
        for i in 0..<raw.count where i < 8 || values.isSubset(of: [0]) {
            values.formUnion(try ImageIO.decodeLabels(contentsOf: raw.pairs[i].label).values)
        }
        if values.isSubset(of: [0, 255]) || values.isSubset(of: [0, 65535]) {
            let names = ["background", "foreground"]
            return (try SegmentationFolder(root: root, encoding: .threshold(128), classNames: names), .threshold(128), names)
        }
        // 255 marks unlabelled pixels in class-index masks (SegmentationFolder.ignoredValue), not a class.
        let classes = (values.subtracting([SegmentationFolder.ignoredValue]).max() ?? 1) + 1
        let names = (0..<classes).map { "class\($0)" }
        return (try SegmentationFolder(root: root, encoding: .classIndices, classNames: names), .classIndices, names)
    }

    /// The `--augment` presets: every one applies to classification; segmentation takes `segmentationPresets`.
    public static let augmentationPresets = ["standard", "strong", "elastic", "trivial", "rand", "auto-imagenet",
                                             "auto-cifar10", "auto-svhn", "augmix", "none"]
    /// The presets segmentation training takes (the others transform images without their masks).
    public static let segmentationPresets = ["standard", "strong", "elastic", "none", "off"]

    /// Augmentation presets for classification: `none`, `standard` (crop + flip), `strong` (+ colour jitter, erasing
    /// with probability 0.25), `elastic` (+ ElasticTransform with torchvision's defaults, alpha 50 and sigma 5),
    /// and crop + flip followed by one of torchvision's automatic policies, as its reference
    /// scripts' `--auto-augment` with their default bilinear interpolation: `trivial` (TrivialAugmentWide, `ta_wide`),
    /// `rand` (RandAugment with 2 operations at magnitude 9 of 31, `ra`), `auto-imagenet`, `auto-cifar10`, `auto-svhn`
    /// (AutoAugment with that policy), `augmix` (AugMix at severity 3, `augmix`).
    /// `erasing` overrides the random-erasing probability of any preset (0 turns it off).
    public static func classificationTransform(_ preset: String, size: Int, padding: Int, channels: Int, largeImages: Bool,
                                               mean: [Float], std: [Float], erasing: Float? = nil) -> any Transform {
        var steps: [any Transform] = [MatchChannels(channels: channels)]
        switch preset {
        case "none", "off":
            steps.append(FitSize(size: size))
        default:
            if largeImages {
                steps.append(RandomResizedCrop(size: size, scale: (0.35, 1)))
            } else {
                steps.append(FitSize(size: size))
                steps.append(RandomCrop(size: size, padding: padding))
            }
            steps.append(RandomHorizontalFlip())
            if preset == "strong" && channels == 3 {
                steps.append(ColorJitter(brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05))
            }
            switch preset {
            case "elastic": steps.append(ElasticTransform())
            case "trivial": steps.append(TrivialAugmentWide(interpolation: .bilinear))
            case "rand": steps.append(RandAugment(interpolation: .bilinear))
            case "auto-imagenet": steps.append(AutoAugment(policy: .imagenet, interpolation: .bilinear))
            case "auto-cifar10": steps.append(AutoAugment(policy: .cifar10, interpolation: .bilinear))
            case "auto-svhn": steps.append(AutoAugment(policy: .svhn, interpolation: .bilinear))
            case "augmix": steps.append(AugMix())
            default: break
            }
        }
        steps.append(Normalize(mean: mean, std: std))
        let erasingProbability = erasing ?? (preset == "strong" ? 0.25 : 0)
        if erasingProbability > 0 { steps.append(RandomErasing(p: erasingProbability)) }
        return Compose(steps)
    }

    /// Augmentation presets for segmentation: joint random crop, flips and quarter turns (image and mask alike);
    /// `strong` adds rotations up to ±15°, `elastic` an elastic deformation (torchvision's defaults, alpha 50 and
    /// sigma 5). An image smaller than the crop is zero-padded, and pixels brought
    /// in from outside are labelled `LabelMask.ignored`.
    public static func segmentationTransform(_ preset: String, crop: Int, channels: Int, mean: [Float], std: [Float]) -> any Transform {
        let cropping = RandomCrop(size: crop, padIfNeeded: true, maskFill: LabelMask.ignored)
        var steps: [any Transform] = [MatchChannels(channels: channels)]
        if preset != "none" && preset != "off" {
            steps += [cropping, RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotation90()] as [any Transform]
            if preset == "strong" { steps.append(RandomRotation(degrees: -15...15, maskFill: LabelMask.ignored)) }
            if preset == "elastic" { steps.append(ElasticTransform(maskFill: LabelMask.ignored)) }
        } else {
            steps.append(cropping)
        }
        steps.append(Normalize(mean: mean, std: std))
        return Compose(steps)
    }
}

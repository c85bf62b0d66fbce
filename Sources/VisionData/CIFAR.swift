import Foundation
import VisionCore

/// Train or test split of a dataset that ships both.
public enum DatasetSplit: String, Sendable {
    case train, test
}

/// CIFAR-10 in the official binary format: `cifar-10-batches-bin/data_batch_{1…5}.bin` (train) and
/// `test_batch.bin`, each a sequence of 3073-byte records (1 label byte, then 3072 bytes: the red,
/// green and blue 32×32 planes). Held in memory as bytes; samples are 3×32×32 in `[0, 1]`.
public struct CIFAR10: Dataset {
    public static let recordSize = 1 + 3072
    public static let builtInClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck"]

    /// `count × 3072` planar bytes.
    public let images: [UInt8]
    public let labels: [UInt8]
    public let classNames: [String]

    public var count: Int { labels.count }

    /// Loads from `directory`, which is either `cifar-10-batches-bin` itself or a folder containing it.
    /// Class names come from `batches.meta.txt` when present.
    public init(directory: URL, split: DatasetSplit) throws {
        let root = CIFARFiles.resolve(directory, subfolder: "cifar-10-batches-bin")
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        try self.init(files: names.map { root.appendingPathComponent($0) },
                      classNames: try CIFARFiles.classNames(root.appendingPathComponent("batches.meta.txt"),
                                                        fallback: CIFAR10.builtInClassNames))
    }

    /// Loads the given batch files in order.
    public init(files: [URL], classNames: [String] = CIFAR10.builtInClassNames) throws {
        var images = [UInt8](), labels = [UInt8]()
        for file in files {
            let bytes = try CIFARFiles.readRecords(file, recordSize: CIFAR10.recordSize)
            let records = bytes.count / CIFAR10.recordSize
            images.reserveCapacity(images.count + records * 3072)
            for r in 0..<records {
                let start = r * CIFAR10.recordSize
                let label = bytes[start]
                guard Int(label) < classNames.count else {
                    throw DataError.malformed(path: file.path, reason: "record \(r) has label \(label), expected below \(classNames.count)")
                }
                labels.append(label)
                images.append(contentsOf: bytes[(start + 1)..<(start + CIFAR10.recordSize)])
            }
        }
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < count, "CIFAR10 index \(index) out of range 0..<\(count)")
        return Sample(image: CIFARFiles.image(images, index), label: Int(labels[index]))
    }
}

/// CIFAR-100 in the official binary format: `cifar-100-binary/{train,test}.bin`, 3074-byte records
/// (coarse label, fine label, 3072 image bytes). `labelKind` picks which label a sample carries.
public struct CIFAR100: Dataset {
    public enum LabelKind: Sendable { case fine, coarse }

    public static let recordSize = 2 + 3072

    public let images: [UInt8]
    public let fineLabels: [UInt8]
    public let coarseLabels: [UInt8]
    public let labelKind: LabelKind
    public let classNames: [String]

    public var count: Int { fineLabels.count }

    /// Loads from `directory` (`cifar-100-binary` or a folder containing it). Class names come from
    /// `fine_label_names.txt` / `coarse_label_names.txt` when present.
    public init(directory: URL, split: DatasetSplit, labelKind: LabelKind = .fine) throws {
        let root = CIFARFiles.resolve(directory, subfolder: "cifar-100-binary")
        let names = labelKind == .fine
            ? try CIFARFiles.classNames(root.appendingPathComponent("fine_label_names.txt"), fallback: CIFAR100.fineClassNames)
            : try CIFARFiles.classNames(root.appendingPathComponent("coarse_label_names.txt"), fallback: CIFAR100.coarseClassNames)
        try self.init(file: root.appendingPathComponent("\(split.rawValue).bin"), labelKind: labelKind, classNames: names)
    }

    public init(file: URL, labelKind: LabelKind = .fine, classNames: [String]? = nil) throws {
        let bytes = try CIFARFiles.readRecords(file, recordSize: CIFAR100.recordSize)
        let records = bytes.count / CIFAR100.recordSize
        var images = [UInt8](), fine = [UInt8](), coarse = [UInt8]()
        images.reserveCapacity(records * 3072)
        for r in 0..<records {
            let start = r * CIFAR100.recordSize
            guard bytes[start] < 20, bytes[start + 1] < 100 else {
                throw DataError.malformed(path: file.path,
                                          reason: "record \(r) has coarse label \(bytes[start]) (< 20) and fine label \(bytes[start + 1]) (< 100)")
            }
            coarse.append(bytes[start])
            fine.append(bytes[start + 1])
            images.append(contentsOf: bytes[(start + 2)..<(start + CIFAR100.recordSize)])
        }
        self.images = images
        self.fineLabels = fine
        self.coarseLabels = coarse
        self.labelKind = labelKind
        self.classNames = classNames ?? (labelKind == .fine ? CIFAR100.fineClassNames : CIFAR100.coarseClassNames)
    }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < count, "CIFAR100 index \(index) out of range 0..<\(count)")
        let label = labelKind == .fine ? fineLabels[index] : coarseLabels[index]
        return Sample(image: CIFARFiles.image(images, index), label: Int(label))
    }

    public static let coarseClassNames = [
        "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
        "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
        "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
        "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
        "vehicles_1", "vehicles_2",
    ]

    public static let fineClassNames = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]
}

/// Shared pieces of the CIFAR readers.
enum CIFARFiles {
    /// `directory/subfolder` when it exists, else `directory`.
    static func resolve(_ directory: URL, subfolder: String) -> URL {
        let nested = directory.appendingPathComponent(subfolder)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return nested
        }
        return directory
    }

    /// Non-empty lines of a names file, or `fallback` when it is absent or has the wrong count.
    /// The names listed one per line in `url` (blank lines skipped), or `fallback` when there is no such
    /// file. A file that is unreadable or lists another number of names is an error: the labels index them.
    static func classNames(_ url: URL, fallback: [String]) throws -> [String] {
        guard FileManager.default.fileExists(atPath: url.path) else { return fallback }
        let text: String
        do {
            text = try String(decoding: readFileBytes(url), as: UTF8.self)
        } catch {
            throw DataError.unreadable(path: url.path, reason: "cannot read the class names: \(error)")
        }
        let names = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard names.count == fallback.count else {
            throw DataError.malformed(path: url.path, reason: "lists \(names.count) class names, expected \(fallback.count) (one per line)")
        }
        guard Set(names).count == names.count else {
            throw DataError.malformed(path: url.path, reason: "lists a class name twice")
        }
        return names
    }

    /// A file's bytes, checked to be a non-empty whole number of records.
    static func readRecords(_ url: URL, recordSize: Int) throws -> [UInt8] {
        let bytes = try readFileBytes(url)
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw DataError.malformed(path: url.path,
                                      reason: "size \(bytes.count) bytes is not a positive multiple of the \(recordSize)-byte record (truncated?)")
        }
        return bytes
    }

    static func image(_ images: [UInt8], _ index: Int) -> FloatImage {
        images.withUnsafeBufferPointer { buffer in
            FloatImage(planarBytes: UnsafeBufferPointer(rebasing: buffer[(index * 3072)..<((index + 1) * 3072)]),
                       channels: 3, height: 32, width: 32)
        }
    }
}

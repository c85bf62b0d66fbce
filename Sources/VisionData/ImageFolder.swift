import Foundation
import VisionImage

/// File helpers shared by the folder datasets.
enum FolderScan {
    static let imageExtensions = ImageFolder.defaultExtensions

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Image files under `directory` (recursively, hidden entries skipped), sorted by path. A directory
    /// given as a symbolic link is followed, as torchvision's `ImageFolder` does.
    static func imageFiles(in linkedDirectory: URL, extensions: Set<String>, recursive: Bool) throws -> [URL] {
        let directory = linkedDirectory.resolvingSymlinksInPath()
        let manager = FileManager.default
        var files = [URL]()
        if recursive {
            guard let enumerator = manager.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey],
                                                      options: [.skipsHiddenFiles]) else {
                throw DataError.unreadable(path: directory.path, reason: "cannot list the directory")
            }
            for case let url as URL in enumerator where extensions.contains(url.pathExtension.lowercased()) {
                if !isDirectory(url) { files.append(url) }
            }
        } else {
            let entries: [URL]
            do {
                entries = try manager.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles])
            } catch {
                throw DataError.unreadable(path: directory.path, reason: error.localizedDescription)
            }
            files = entries.filter { extensions.contains($0.pathExtension.lowercased()) && !isDirectory($0) }
        }
        return files.sorted { $0.path < $1.path }
    }

    /// Decodes a file and converts it to `channels` (nil: 1 for gray, 3 for colour, alpha dropped).
    static func decode(_ url: URL, channels: Int?, applyEXIFOrientation: Bool = false) throws -> FloatImage {
        var image = try ImageIO.decode(contentsOf: url, applyEXIFOrientation: applyEXIFOrientation)
        let target = channels ?? (image.channels >= 3 ? 3 : 1)
        if image.channels != target { image = image.converted(toChannels: target) }
        return image.pixels.withUnsafeBufferPointer {
            FloatImage(interleavedBytes: $0, channels: image.channels, height: image.height, width: image.width)
        }
    }
}

/// A classification dataset laid out as `root/<class>/**/*.{png,jpg,jpeg}` (extensions case-insensitive),
/// as torchvision's `ImageFolder`: classes are the sub-folder names sorted, labels their positions, and
/// files are sorted by path. Images are decoded when a sample is asked for.
public struct ImageFolder: Dataset {
    public static let defaultExtensions: Set<String> = ["png", "jpg", "jpeg"]

    public let root: URL
    public let classNames: [String]
    /// Every image file, with its label.
    public let files: [(url: URL, label: Int)]
    /// Channels each image is converted to (nil: 1 for gray files, 3 for colour).
    public let channels: Int?
    /// Whether JPEGs are turned upright by their EXIF orientation tag (the CLI turns this on).
    public var applyEXIFOrientation = false

    public init(root: URL, channels: Int? = 3, extensions: Set<String> = ImageFolder.defaultExtensions) throws {
        precondition(channels == nil || channels == 1 || channels == 3, "ImageFolder: channels must be 1, 3 or nil")
        guard FolderScan.isDirectory(root) else {
            throw DataError.unreadable(path: root.path, reason: "not a directory")
        }
        let entries: [URL]
        do {
            entries = try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil,
                                                                  options: [.skipsHiddenFiles])
        } catch {
            throw DataError.unreadable(path: root.path, reason: error.localizedDescription)
        }
        let classFolders = entries.filter(FolderScan.isDirectory).sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !classFolders.isEmpty else {
            throw DataError.empty(path: root.path, reason: "expected one sub-folder per class (root/<class>/image.png)")
        }
        var files = [(url: URL, label: Int)]()
        let lowered = Set(extensions.map { $0.lowercased() })
        for (label, folder) in classFolders.enumerated() {
            let images = try FolderScan.imageFiles(in: folder, extensions: lowered, recursive: true)
            guard !images.isEmpty else {
                throw DataError.empty(path: folder.path, reason: "class folder has no \(lowered.sorted().joined(separator: "/")) files")
            }
            files += images.map { ($0, label) }
        }
        self.root = root
        self.classNames = classFolders.map(\.lastPathComponent)
        self.files = files
        self.channels = channels
    }

    public var count: Int { files.count }

    /// Decodes file `index`; a corrupt file throws an error naming it.
    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < files.count, "ImageFolder index \(index) out of range 0..<\(files.count)")
        let (url, label) = files[index]
        return Sample(image: try FolderScan.decode(url, channels: channels, applyEXIFOrientation: applyEXIFOrientation), label: label)
    }

    public func sourcePath(at index: Int) -> String? { files.indices.contains(index) ? files[index].url.path : nil }
}

/// A segmentation dataset: `root/image/NAME.ext` paired with `root/label/NAME.ext` (or `mask/`,
/// `labels/`, `masks/`; `images/` also works) by file stem. Label images are read as one value per pixel
/// (`ImageIO.decodeLabels`: palette PNGs give their indices, gray PNGs their stored values, colour images their gray level).
public struct SegmentationFolder: Dataset {
    /// How label pixel values become class indices.
    public enum LabelEncoding: Sendable, Equatable {
        /// The stored value is the class index (checked against `classNames` when it is non-empty), except
        /// `ignoredValue` (255), which marks pixels without a label — PASCAL VOC's object boundaries, the
        /// value torchvision's segmentation references pass as `ignore_index` — and becomes `LabelMask.ignored`.
        case classIndices
        /// Binary: value ≥ threshold → class 1, else class 0 (ISBI 2012: 255 = cell → 1, 0 = membrane → 0).
        case threshold(UInt8)
    }

    /// The class-index value that marks unlabelled pixels.
    public static let ignoredValue = 255

    public let root: URL
    public let pairs: [(image: URL, label: URL)]
    public let encoding: LabelEncoding
    public let classNames: [String]
    /// Channels each image is converted to (nil: 1 for gray files, 3 for colour).
    public let imageChannels: Int?
    /// Whether JPEG images and labels are turned upright by their EXIF orientation tag (the CLI turns this on).
    public var applyEXIFOrientation = false

    public init(root: URL, encoding: LabelEncoding = .classIndices, classNames: [String]? = nil,
                imageChannels: Int? = nil) throws {
        guard let imageFolder = ["image", "images"].map(root.appendingPathComponent).first(where: FolderScan.isDirectory) else {
            throw DataError.unreadable(path: root.appendingPathComponent("image").path, reason: "no image/ folder")
        }
        let labelCandidates = ["label", "mask", "labels", "masks"].map(root.appendingPathComponent)
        guard let labelFolder = labelCandidates.first(where: FolderScan.isDirectory) else {
            throw DataError.unreadable(path: root.appendingPathComponent("label").path, reason: "no label/ or mask/ folder")
        }
        let images = try FolderScan.imageFiles(in: imageFolder, extensions: FolderScan.imageExtensions, recursive: false)
        guard !images.isEmpty else { throw DataError.empty(path: imageFolder.path, reason: "no png/jpg/jpeg files") }
        var labelsByStem = [String: URL]()
        for label in try FolderScan.imageFiles(in: labelFolder, extensions: FolderScan.imageExtensions, recursive: false) {
            let stem = label.deletingPathExtension().lastPathComponent
            // Prefer a lossless PNG when a stem has several files.
            if labelsByStem[stem] == nil || label.pathExtension.lowercased() == "png" { labelsByStem[stem] = label }
        }
        self.pairs = try images.map { image in
            let stem = image.deletingPathExtension().lastPathComponent
            guard let label = labelsByStem[stem] else {
                throw DataError.mismatch(path: image.path, reason: "no label file named \(stem).* in \(labelFolder.path)")
            }
            return (image, label)
        }
        self.root = root
        self.encoding = encoding
        switch encoding {
        case .classIndices: self.classNames = classNames ?? []
        case .threshold: self.classNames = classNames ?? ["background", "foreground"]
        }
        self.imageChannels = imageChannels
    }

    public var count: Int { pairs.count }

    public func sourcePath(at index: Int) -> String? { pairs.indices.contains(index) ? pairs[index].image.path : nil }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < pairs.count, "SegmentationFolder index \(index) out of range 0..<\(pairs.count)")
        let (imageURL, labelURL) = pairs[index]
        let image = try FolderScan.decode(imageURL, channels: imageChannels, applyEXIFOrientation: applyEXIFOrientation)
        let label = try ImageIO.decodeLabels(contentsOf: labelURL, applyEXIFOrientation: applyEXIFOrientation)
        guard label.height == image.height && label.width == image.width else {
            throw DataError.mismatch(path: labelURL.path,
                                     reason: "label is \(label.height)×\(label.width) but \(imageURL.path) is \(image.height)×\(image.width)")
        }
        let values: [Int]
        switch encoding {
        case .threshold(let threshold):
            values = label.values.map { $0 >= Int(threshold) ? 1 : 0 }
        case .classIndices:
            values = label.values.map { $0 == Self.ignoredValue ? LabelMask.ignored : $0 }
            if !classNames.isEmpty, let bad = values.first(where: { $0 >= classNames.count }) {
                throw DataError.malformed(path: labelURL.path, reason: "label value \(bad) is not below \(classNames.count) classes")
            }
        }
        return Sample(image: image, mask: LabelMask(height: label.height, width: label.width, labels: values))
    }
}

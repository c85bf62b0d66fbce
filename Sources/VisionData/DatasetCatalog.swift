import Foundation

/// Resolves dataset names to files in the standard places.
///
/// Search order: `$VISION_DATA`, then `./datasets` (relative to `workingDirectory`), then, for
/// Fashion-MNIST and MNIST, `/usr/share/datasets` (where Debian's `dataset-fashion-mnist` installs the former).
/// - `cifar` / `cifar10`: `cifar-10-batches-bin/` (official binary), or a `cifar10/{train,test}/<class>/`
///   image-folder tree.
/// - `cifar100`: `cifar-100-binary/`, or `cifar100/{train,test}/<class>/`.
/// - `fashion-mnist`, `mnist`: a folder of that name holding the IDX files (plain or `.gz`).
/// - `isbi2012`: `isbi2012-membrane/train/{image,label}/N.png` as a two-class segmentation set
///   (label 255 = cell → class 1, 0 = membrane → class 0); only the training split has labels.
public enum DatasetCatalog {
    public static let names = ["cifar", "cifar10", "cifar100", "fashion-mnist", "mnist", "isbi2012"]

    /// The data roots searched, in order.
    public static func searchRoots(environment: [String: String] = ProcessInfo.processInfo.environment,
                                   workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> [URL] {
        var roots = [URL]()
        if let root = environment["VISION_DATA"], !root.isEmpty { roots.append(URL(fileURLWithPath: root)) }
        roots.append(workingDirectory.appendingPathComponent("datasets"))
        return roots
    }

    /// Loads the named dataset's split, or throws `DataError.datasetNotFound` listing every place
    /// searched and how to get the data. A dataset that is found but malformed throws its parse error.
    public static func load(_ name: String, split: DatasetSplit,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) throws -> any Dataset {
        let roots = searchRoots(environment: environment, workingDirectory: workingDirectory)
        var searched = [String]()
        func exists(_ url: URL) -> Bool {
            searched.append(url.path)
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        switch name.lowercased() {
        case "cifar", "cifar10", "cifar-10":
            for root in roots {
                let binary = root.appendingPathComponent("cifar-10-batches-bin")
                if exists(binary) { return try CIFAR10(directory: binary, split: split) }
                let folder = root.appendingPathComponent("cifar10").appendingPathComponent(split.rawValue)
                if exists(folder) { return try ImageFolder(root: folder, channels: 3) }
            }
            throw DataError.datasetNotFound(
                name: name, searched: searched,
                hint: "Run scripts/download-cifar10 (it fetches cifar-10-binary.tar.gz into $VISION_DATA or ./datasets), "
                    + "or extract a cifar10/{train,test}/<class>/ image tree into $VISION_DATA.")
        case "cifar100", "cifar-100":
            for root in roots {
                let binary = root.appendingPathComponent("cifar-100-binary")
                if exists(binary) { return try CIFAR100(directory: binary, split: split) }
                let folder = root.appendingPathComponent("cifar100").appendingPathComponent(split.rawValue)
                if exists(folder) { return try ImageFolder(root: folder, channels: 3) }
            }
            throw DataError.datasetNotFound(
                name: name, searched: searched,
                hint: "Download cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
                    + "and extract it into $VISION_DATA (giving $VISION_DATA/cifar-100-binary).")
        case "fashion-mnist", "fashionmnist", "fashion_mnist":
            let places = roots + [URL(fileURLWithPath: "/usr/share/datasets")]
            for root in places {
                let folder = root.appendingPathComponent("fashion-mnist")
                if exists(folder) { return try MNIST(directory: folder, split: split == .train ? .train : .test, variant: .fashion) }
            }
            throw DataError.datasetNotFound(
                name: name, searched: searched,
                hint: "Install it with `apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist), "
                    + "or put the IDX files in $VISION_DATA/fashion-mnist.")
        case "mnist":
            let places = roots + [URL(fileURLWithPath: "/usr/share/datasets")]
            for root in places {
                let folder = root.appendingPathComponent("mnist")
                if exists(folder) { return try MNIST(directory: folder, split: split == .train ? .train : .test, variant: .digits) }
            }
            throw DataError.datasetNotFound(
                name: name, searched: searched,
                hint: "Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
                    + "t10k-labels-idx1-ubyte.gz in $VISION_DATA/mnist.")
        case "isbi2012", "isbi", "isbi2012-membrane":
            for root in roots {
                let folder = root.appendingPathComponent("isbi2012-membrane")
                if exists(folder) {
                    guard split == .train else {
                        throw DataError.empty(path: folder.appendingPathComponent("test").path,
                                              reason: "the ISBI 2012 test images have no labels; use the train split")
                    }
                    return try SegmentationFolder(root: folder.appendingPathComponent("train"), encoding: .threshold(128),
                                                  classNames: ["membrane", "cell"])
                }
            }
            throw DataError.datasetNotFound(
                name: name, searched: searched,
                hint: "Copy the isbi2012-membrane folder (train/image, train/label) into $VISION_DATA.")
        default:
            throw DataError.datasetNotFound(name: name, searched: [],
                                            hint: "Known datasets: \(names.joined(separator: ", ")); "
                                                + "for your own images use an image folder (root/<class>/*.png).")
        }
    }
}

import Foundation
import VisionCore

/// Throughput of the input pipeline on the CIFAR-10 JPEG training set: decode, random crop with
/// 4 pixels of zero padding, horizontal flip and normalisation, batched by the `DataLoader`.
/// A program (`vision-bench data DIR`, `scripts/bench-data.sh`) prints the figures; this only measures.
public enum DataBenchmark {
    /// The augmentation measured (the standard CIFAR training recipe).
    public static let cifarTrainingTransform: any Transform = Compose([
        RandomCrop(size: 32, padding: 4, paddingMode: .zero),
        RandomHorizontalFlip(),
        Normalize.cifar10,
    ])

    /// The image-folder root below `root`: `root/cifar10/train`, `root/train` or `root` itself.
    public static func trainingFolder(under root: URL) -> URL {
        for candidate in [root.appendingPathComponent("cifar10/train"), root.appendingPathComponent("train")] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate
            }
        }
        return root
    }

    /// Runs one shuffled epoch (batch 128) per entry of `workers` and returns images per second.
    /// - Parameters:
    ///   - root: a folder holding `cifar10/train/<class>/*.jpg` (or `train/<class>`, or `<class>` directly).
    ///   - workers: worker-thread counts to measure, in order.
    ///   - limit: use only this many images (a seeded random subset), e.g. for a quick run.
    ///   - transform: the augmentation measured (default: the standard CIFAR recipe).
    public static func run(root: URL, workers: [Int] = [1, 2], limit: Int? = nil, batchSize: Int = 128,
                           transform: any Transform = cifarTrainingTransform) throws -> [(workers: Int, imagesPerSecond: Double)] {
        let folder = try ImageFolder(root: trainingFolder(under: root), channels: 3)
        var dataset: any Dataset = folder
        if let limit, limit < folder.count {
            dataset = randomSplit(folder, counts: [limit, folder.count - limit], seed: 0)[0]
        }
        // Warm the file cache and the decoder so the first measured configuration is not penalised.
        let warmup = DataLoader(Subset(dataset, indices: Array(0..<min(dataset.count, 512))), batchSize: batchSize,
                                workers: 1, transform: transform)
        try warmup.forEachBatch(epoch: 0) { _ in }

        var results = [(workers: Int, imagesPerSecond: Double)]()
        for workerCount in workers {
            let loader = DataLoader(dataset, batchSize: batchSize, shuffle: true, workers: workerCount, seed: 1,
                                    transform: transform)
            var images = 0
            let start = DispatchTime.now().uptimeNanoseconds
            try loader.forEachBatch(epoch: 0) { batch in images += batch.count }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            results.append((workerCount, Double(images) / max(seconds, 1e-9)))
        }
        return results
    }
}

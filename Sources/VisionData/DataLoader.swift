import Foundation
import VisionCore

/// One batch: images `[N, C, H, W]` and either class labels (`[N]`) or masks (`N·H·W`, row-major).
public struct Batch {
    public let images: Tensor
    /// Class indices, one per sample; empty for segmentation batches.
    public let labels: [Int]
    /// Per-pixel class indices `[N, H, W]` flattened, for segmentation batches.
    public let masks: [Int]?
    /// The dataset indices of the samples, in batch order.
    public let indices: [Int]

    public var count: Int { indices.count }
}

/// Batches a dataset into NCHW tensors, optionally shuffling each epoch and decoding/augmenting on
/// worker threads with a bounded prefetch queue (torch's `DataLoader`).
///
/// Reproducibility: the epoch's order is a permutation drawn from the seed and the epoch number, and
/// each sample's transform gets its own generator derived from (seed, epoch, dataset index). Batches are
/// delivered in order, so the same seed gives the same batches whatever `workers` is.
public struct DataLoader: Sendable {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    /// Worker threads; 0 builds each batch on the calling thread when it is asked for.
    public let workers: Int
    /// Finished batches that may wait ahead of the consumer (at least `workers`).
    public let prefetch: Int
    public let seed: UInt64
    public let transform: (any Transform)?

    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = false, dropLast: Bool = false,
                workers: Int = 0, prefetch: Int? = nil, seed: UInt64 = 0, transform: (any Transform)? = nil) {
        precondition(batchSize > 0, "DataLoader: batchSize must be positive, got \(batchSize)")
        precondition(workers >= 0, "DataLoader: workers must be non-negative, got \(workers)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.workers = workers
        let doubled = workers.multipliedReportingOverflow(by: 2)
        self.prefetch = max(prefetch ?? (doubled.overflow ? Int.max : doubled.partialValue), workers, 1)
        self.seed = seed
        self.transform = transform
    }

    /// Batches per epoch.
    public var batchCount: Int {
        dropLast ? dataset.count / batchSize : dataset.count / batchSize + (dataset.count % batchSize == 0 ? 0 : 1)
    }

    /// The dataset indices in the order epoch `epoch` visits them.
    public func order(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<dataset.count) }
        var generator = SeededGenerator(seed: seed ^ 0x5348_5546_464C_4521).split(UInt64(bitPattern: Int64(epoch)))
        return shuffledIndices(dataset.count, generator: &generator)
    }

    /// The generator the transform of sample `index` receives in epoch `epoch`.
    public static func sampleGenerator(seed: UInt64, epoch: Int, index: Int) -> SeededGenerator {
        SeededGenerator(seed: seed).split(UInt64(bitPattern: Int64(epoch)) &+ 0x0A5E_ED00).split(UInt64(index))
    }

    /// An iterator over the batches of epoch `epoch`; workers start at once. Call `next()` until it
    /// returns nil; dropping the iterator early (or `close()`) stops and joins the workers.
    public func epoch(_ epoch: Int) -> DataLoaderIterator {
        let indices = order(epoch: epoch)
        let batches = (0..<batchCount).map { b in
            Array(indices[(b * batchSize)..<min((b + 1) * batchSize, indices.count)])
        }
        return DataLoaderIterator(loader: self, epoch: epoch, batches: batches)
    }

    /// Calls `body` with each batch of epoch `epoch` in order; stops at the first thrown error.
    public func forEachBatch(epoch: Int, _ body: (Batch) throws -> Void) throws {
        let iterator = self.epoch(epoch)
        defer { iterator.close() }
        while let batch = try iterator.next() { try body(batch) }
    }

    /// Loads, transforms and stacks the samples at `indices` (runs on worker threads).
    func assemble(_ indices: [Int], epoch: Int, cancelled: () -> Bool) throws -> PendingBatch {
        var pixels = [Float](), labels = [Int](), masks = [Int]()
        var shape: (Int, Int, Int)? = nil
        var segmentation = false
        for (position, index) in indices.enumerated() {
            if cancelled() { throw CancellationError() }
            var sample = try dataset.sample(at: index)
            if let transform {
                var generator = DataLoader.sampleGenerator(seed: seed, epoch: epoch, index: index)
                transform.apply(to: &sample, generator: &generator)
            }
            let image = sample.image
            if let (c, h, w) = shape {
                guard image.channels == c && image.height == h && image.width == w else {
                    throw DataError.inconsistentBatch(
                        reason: "sample \(index) is [\(image.channels), \(image.height), \(image.width)], earlier samples [\(c), \(h), \(w)]")
                }
            } else {
                shape = (image.channels, image.height, image.width)
                pixels.reserveCapacity(indices.count * image.pixels.count)
                segmentation = sample.mask != nil
            }
            switch sample.target {
            case .label(let label) where !segmentation:
                labels.append(label)
            case .mask(let mask) where segmentation:
                guard mask.height == image.height && mask.width == image.width else {
                    throw DataError.inconsistentBatch(
                        reason: "sample \(index): mask [\(mask.height), \(mask.width)] does not match image [\(image.height), \(image.width)]")
                }
                if position == 0 { masks.reserveCapacity(indices.count * mask.labels.count) }
                masks.append(contentsOf: mask.labels)
            default:
                throw DataError.inconsistentBatch(reason: "sample \(index) mixes class labels and masks in one batch")
            }
            pixels.append(contentsOf: image.pixels)
        }
        let (c, h, w) = shape ?? (0, 0, 0)
        return PendingBatch(shape: [indices.count, c, h, w], pixels: pixels, labels: labels,
                            masks: segmentation ? masks : nil, indices: indices)
    }
}

/// A batch built off the consumer thread; becomes a `Batch` (with its `Tensor`) when delivered.
struct PendingBatch: Sendable {
    var shape: [Int]
    var pixels: [Float]
    var labels: [Int]
    var masks: [Int]?
    var indices: [Int]

    var batch: Batch {
        Batch(images: Tensor(shape: shape, storage: pixels), labels: labels, masks: masks, indices: indices)
    }
}

/// The batches of one epoch, produced by the loader's workers in order.
public final class DataLoaderIterator {
    private let loader: DataLoader
    private let epoch: Int
    private let batches: [[Int]]
    private let queue: PrefetchQueue?
    private var nextBatch = 0
    private var done = false

    init(loader: DataLoader, epoch: Int, batches: [[Int]]) {
        self.loader = loader
        self.epoch = epoch
        self.batches = batches
        if loader.workers > 0 && !batches.isEmpty {
            let queue = PrefetchQueue(total: batches.count, capacity: loader.prefetch)
            self.queue = queue
            for _ in 0..<min(loader.workers, batches.count) {
                queue.startWorker { b, cancelled in
                    try loader.assemble(batches[b], epoch: epoch, cancelled: cancelled)
                }
            }
        } else {
            queue = nil
        }
    }

    deinit { close() }

    /// Number of batches in this epoch.
    public var batchCount: Int { batches.count }

    /// The next batch in order, nil after the last. A sample's error (e.g. a corrupt file, named in the
    /// error) is thrown here, after which the iterator is finished.
    public func next() throws -> Batch? {
        guard !done, nextBatch < batches.count else {
            close()
            return nil
        }
        let b = nextBatch
        nextBatch += 1
        do {
            if let queue {
                return try queue.take(b).batch
            }
            return try loader.assemble(batches[b], epoch: epoch, cancelled: { false }).batch
        } catch {
            close()
            throw error
        }
    }

    /// Stops the workers and waits for them to exit. Idempotent; called when the iterator is released.
    public func close() {
        done = true
        queue?.shutdown()
    }
}

/// Lock-protected bookkeeping shared by the consumer and the worker threads.
///
/// Workers claim batch numbers in order, but never more than `capacity` ahead of the batch the consumer
/// waits for, which bounds memory. Results are keyed by batch number so delivery order is fixed.
final class PrefetchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let total: Int
    private let capacity: Int
    private var nextToClaim = 0
    private var nextToDeliver = 0
    private var results: [Int: Result<PendingBatch, Error>] = [:]
    private var cancelled = false
    private var liveWorkers = 0

    init(total: Int, capacity: Int) {
        self.total = total
        self.capacity = capacity
    }

    func startWorker(_ build: @escaping @Sendable (Int, () -> Bool) throws -> PendingBatch) {
        condition.lock()
        liveWorkers += 1
        condition.unlock()
        let thread = Thread { [self] in
            self.work(build)
        }
        thread.name = "DataLoader worker"
        thread.start()
    }

    private func isCancelled() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    private func work(_ build: (Int, () -> Bool) throws -> PendingBatch) {
        condition.lock()
        while true {
            while !cancelled && nextToClaim < total && nextToClaim >= nextToDeliver + capacity {
                condition.wait()
            }
            if cancelled || nextToClaim >= total { break }
            let b = nextToClaim
            nextToClaim += 1
            condition.unlock()
            let result = Result { try build(b, { self.isCancelled() }) }
            condition.lock()
            results[b] = result
            condition.broadcast()
        }
        liveWorkers -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for batch `b` (which must be the next in order) and removes it from the queue.
    func take(_ b: Int) throws -> PendingBatch {
        condition.lock()
        defer { condition.unlock() }
        precondition(b == nextToDeliver, "batches are taken in order")
        while results[b] == nil {
            if cancelled { throw CancellationError() }
            condition.wait()
        }
        let result = results.removeValue(forKey: b)!
        nextToDeliver += 1
        condition.broadcast()
        return try result.get()
    }

    /// Cancels outstanding work and blocks until every worker thread has exited.
    func shutdown() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while liveWorkers > 0 { condition.wait() }
        results.removeAll()
        condition.unlock()
    }
}

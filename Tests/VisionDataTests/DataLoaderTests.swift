import Foundation
import TestSupport
import VisionCore
import VisionData
import XCTest

/// Sample `i` is a 3×6×6 image whose values encode `i`, labelled `i % 7`.
struct CountingDataset: Dataset {
    let count: Int
    var failingIndex: Int? = nil
    var classNames: [String] { (0..<7).map { "class\($0)" } }

    func sample(at index: Int) throws -> Sample {
        if index == failingIndex { throw DataError.malformed(path: "/data/corrupt-\(index).png", reason: "bad CRC") }
        var image = FloatImage(channels: 3, height: 6, width: 6)
        for p in 0..<image.pixels.count { image.pixels[p] = Float((index * 37 + p) % 101) / 100 }
        return Sample(image: image, label: index % 7)
    }
}

/// A segmentation dataset whose mask is the thresholded image.
struct MaskedDataset: Dataset {
    let count: Int
    var classNames: [String] { ["off", "on"] }

    func sample(at index: Int) throws -> Sample {
        let h = 8, w = 8
        let values: [Float] = (0..<(h * w)).map { (($0 / w + $0 % w + index) % 4) < 2 ? 0 : 1 }
        return Sample(image: FloatImage(channels: 1, height: h, width: w, pixels: values),
                      mask: LabelMask(height: h, width: w, labels: values.map { Int($0) }))
    }
}

final class DataLoaderTests: XCTestCase {
    func collect(_ loader: DataLoader, epoch: Int) throws -> [Batch] {
        var batches = [Batch]()
        try loader.forEachBatch(epoch: epoch) { batches.append($0) }
        return batches
    }

    func testEveryIndexVisitedOncePerEpoch() throws {
        let dataset = CountingDataset(count: 23)
        for workers in [0, 2] {
            let loader = DataLoader(dataset, batchSize: 5, shuffle: true, workers: workers, seed: 3)
            XCTAssertEqual(loader.batchCount, 5)
            var orders = [[Int]]()
            for epoch in 0..<3 {
                let batches = try collect(loader, epoch: epoch)
                XCTAssertEqual(batches.map(\.count), [5, 5, 5, 5, 3])
                let visited = batches.flatMap(\.indices)
                XCTAssertEqual(visited.sorted(), Array(0..<23))
                XCTAssertEqual(visited, loader.order(epoch: epoch))
                XCTAssertEqual(batches.flatMap(\.labels), visited.map { $0 % 7 })
                orders.append(visited)
            }
            XCTAssertNotEqual(orders[0], orders[1], "each epoch is shuffled differently")
            XCTAssertNotEqual(orders[0], Array(0..<23))

            let dropping = DataLoader(dataset, batchSize: 5, shuffle: true, dropLast: true, workers: workers, seed: 3)
            XCTAssertEqual(dropping.batchCount, 4)
            let kept = try collect(dropping, epoch: 1).flatMap(\.indices)
            XCTAssertEqual(kept.count, 20)
            XCTAssertEqual(Set(kept).count, 20, "no index twice")
            XCTAssertEqual(kept, Array(dropping.order(epoch: 1).prefix(20)))
        }
        let ordered = DataLoader(dataset, batchSize: 10)
        XCTAssertEqual(try collect(ordered, epoch: 5).flatMap(\.indices), Array(0..<23))
    }

    func testBatchTensorsAreStackedSamples() throws {
        let dataset = CountingDataset(count: 4)
        let loader = DataLoader(dataset, batchSize: 3, workers: 1)
        let batch = try XCTUnwrap(try collect(loader, epoch: 0).first)
        XCTAssertEqual(batch.images.shape, [3, 3, 6, 6])
        XCTAssertEqual(Array(batch.images.storage[108..<216]), try dataset.sample(at: 1).image.pixels)
        XCTAssertNil(batch.masks)
    }

    func testSameSeedSameBatchesWhateverTheWorkerCount() throws {
        let dataset = CountingDataset(count: 37)
        let augment = Compose([
            RandomCrop(size: 6, padding: 2, paddingMode: .reflect),
            RandomHorizontalFlip(),
            RandomRotation(degrees: 20),
            ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1),
            GaussianNoise(std: 0.05),
            RandomErasing(),
        ])
        var reference: [Batch]? = nil
        for workers in [0, 1, 2, 3] {
            let loader = DataLoader(dataset, batchSize: 4, shuffle: true, workers: workers, seed: 11, transform: augment)
            let batches = try collect(loader, epoch: 2)
            if let reference {
                XCTAssertEqual(batches.count, reference.count)
                for (a, b) in zip(batches, reference) {
                    XCTAssertEqual(a.indices, b.indices, "\(workers) workers")
                    XCTAssertEqual(a.labels, b.labels)
                    XCTAssertEqual(a.images.storage, b.images.storage, "\(workers) workers: augmented pixels differ")
                }
            } else {
                reference = batches
                let plain = try dataset.sample(at: batches[0].indices[0]).image.pixels
                XCTAssertNotEqual(Array(batches[0].images.storage[0..<108]), plain, "augmentation is on")
            }
        }
        let otherEpoch = try collect(DataLoader(dataset, batchSize: 4, shuffle: true, workers: 2, seed: 11, transform: augment), epoch: 3)
        XCTAssertNotEqual(otherEpoch[0].images.storage, reference![0].images.storage)
    }

    func testSegmentationBatchesCarryAlignedMasks() throws {
        let loader = DataLoader(MaskedDataset(count: 6), batchSize: 4, shuffle: true, workers: 2, seed: 5,
                                transform: Compose([RandomHorizontalFlip(), RandomRotation90(),
                                                    RandomCrop(size: 6, padding: 1, paddingMode: .zero)]))
        let batches = try collect(loader, epoch: 0)
        XCTAssertEqual(batches.map(\.count), [4, 2])
        for batch in batches {
            XCTAssertEqual(batch.images.shape, [batch.count, 1, 6, 6])
            XCTAssertTrue(batch.labels.isEmpty)
            let masks = try XCTUnwrap(batch.masks)
            XCTAssertEqual(masks.count, batch.count * 36)
            XCTAssertEqual(masks, batch.images.storage.map { Int($0) })
        }
    }

    func testSampleErrorReachesTheConsumerNamingTheFile() {
        for workers in [0, 2] {
            let loader = DataLoader(CountingDataset(count: 40, failingIndex: 17), batchSize: 4, workers: workers)
            let iterator = loader.epoch(0)
            var delivered = 0
            XCTAssertThrowsError(try { while try iterator.next() != nil { delivered += 1 } }()) { error in
                XCTAssertTrue("\(error)".contains("corrupt-17.png"), "\(error)")
            }
            XCTAssertEqual(delivered, 4, "the batches before the bad one arrive first")
            XCTAssertNil(try iterator.next(), "the iterator is finished after an error")
        }
    }

    func testStoppingEarlyShutsWorkersDown() throws {
        let loader = DataLoader(CountingDataset(count: 200), batchSize: 2, shuffle: true, workers: 3, prefetch: 4, seed: 1)
        for _ in 0..<20 {
            let iterator = loader.epoch(0)
            XCTAssertNotNil(try iterator.next())
            iterator.close()  // joins the workers; returning at all shows nothing is stuck
            XCTAssertNil(try iterator.next())
        }
        // Dropping an iterator without closing it also shuts it down.
        for epoch in 0..<20 {
            _ = try loader.epoch(epoch).next()
        }
        XCTAssertEqual(try collect(loader, epoch: 0).count, 100)
    }

    func testSampleGeneratorsDependOnSeedEpochAndIndex() {
        func firstDraw(_ seed: UInt64, _ epoch: Int, _ index: Int) -> UInt64 {
            var generator = DataLoader.sampleGenerator(seed: seed, epoch: epoch, index: index)
            return generator.next()
        }
        XCTAssertEqual(firstDraw(1, 0, 5), firstDraw(1, 0, 5))
        let draws = [firstDraw(1, 0, 5), firstDraw(2, 0, 5), firstDraw(1, 1, 5), firstDraw(1, 0, 6)]
        XCTAssertEqual(Set(draws).count, 4)
    }
}

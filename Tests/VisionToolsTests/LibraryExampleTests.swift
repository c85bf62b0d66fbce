import Foundation
import TestSupport
import VisionCore
import VisionData
import VisionModels
import VisionOptim
import XCTest

/// The library example of README.md ("Using the library"), run on a small generated folder: it must compile and
/// train as written.
final class LibraryExampleTests: XCTestCase {
    func testTheReadmeExampleTrains() throws {
        let root = temporaryDirectory("vision-library-example")
        defer { try? FileManager.default.removeItem(at: root) }
        try ToolsTestData.writeClassFolder(root, classes: ToolsTestData.colours, perClass: 8, side: 20, seed: 6)
        let photos = root.path
        var losses: [Float] = []

        // README example, from here (with `photos` the folder and 2 epochs instead of 10).
        let train = try ImageFolder(root: URL(fileURLWithPath: photos))
        let augment = Compose([
            RandomResizedCrop(size: 16, scale: (0.5, 1)),
            RandomHorizontalFlip(),
            RandAugment(interpolation: .bilinear),
            Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]),
            RandomErasing(p: 0.25),
        ])
        let loader = DataLoader(train, batchSize: 8, shuffle: true, workers: 2, seed: 1, transform: augment)
        let model = try ModelRegistry.build("resnet20", options: ModelOptions(numClasses: train.classNames.count, inputSize: 16))
        let optimizer = SGD([ParameterGroup(module: model, weightDecay: 5e-4)], learningRate: 0.05, momentum: 0.9)
        for epoch in 0..<2 {
            try loader.forEachBatch(epoch: epoch) { batch in
                optimizer.zeroGrad()
                let loss = crossEntropy(model(batch.images), targets: batch.labels, labelSmoothing: 0.1)
                loss.backward()
                optimizer.step()
                losses.append(loss.item)
            }
        }
        // To here.

        XCTAssertEqual(losses.count, 2 * 3, "24 images in batches of 8, two epochs")
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertEqual(train.classNames.count, 3)
    }
}

import Foundation
import TestSupport
import VisionCore
import VisionTools
import XCTest

/// Every network in `pretrained/` is listed in its manifest with the right size, and loads.
final class PretrainedTests: XCTestCase {
    func testShippedModelsMatchTheManifestAndLoad() throws {
        let root = packageRoot().appendingPathComponent("pretrained")
        let manifestURL = root.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw XCTSkip("no pretrained/manifest.json yet")
        }
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try XCTUnwrap(manifest["models"] as? [[String: Any]])
        var total = 0
        for entry in models {
            let file = try XCTUnwrap(entry["file"] as? String)
            let url = root.appendingPathComponent(file)
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
            XCTAssertEqual(size, entry["bytes"] as? Int, "\(file) size differs from the manifest")
            XCTAssertNotNil(entry["command"] as? String, "\(file) needs the command that trained it")
            XCTAssertNotNil(entry["sha256"] as? String)
            total += size
            let (config, model) = try Checkpoint.loadModel(url.path)
            XCTAssertEqual(config.model, entry["model"] as? String)
            let side = 37  // an odd size: U-Nets pad and crop, classifiers pool
            let x = Tensor.zeros([1, config.preprocessing.channels, side, side])
            let y = Autograd.noGrad { model(x) }
            XCTAssertEqual(y.shape[1], config.classNames.count, file)
            if config.task == .segmentation { XCTAssertEqual(Array(y.shape[2...]), [side, side]) }
        }
        XCTAssertLessThan(total, 40 << 20, "pretrained/ must stay under 40 MB")
    }
}

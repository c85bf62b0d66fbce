import Foundation
import TestSupport
import VisionCore
import VisionModels
import VisionNN
import XCTest

/// ResNeXt and Wide ResNet (grouped and widened bottlenecks) against torchvision 0.29 / PyTorch 2.15.
/// Golden values: `scripts/make_resnet_variant_goldens.py`, which fills every state-dict entry of
/// torchvision's `ResNet(Bottleneck, [1, 2, 1, 1], num_classes=5, …)` from the formula below, so no
/// weight file is needed.
final class ResNetVariantTests: XCTestCase {
    /// FNV-1a (64-bit) over the lines "name shape…\n" of the sorted state-dict keys: the layout in one number.
    static func layoutHash(_ model: Module) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for (name, tensor) in model.stateDict().filter({ !$0.name.hasSuffix("num_batches_tracked") }).sorted(by: { $0.name < $1.name }) {
            for byte in ([name] + tensor.shape.map(String.init)).joined(separator: " ").utf8 + [10] {
                h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return h
    }

    /// Entry `i` of the `k`-th sorted key: running means 0.1·s, running variances 1 + 0.5·s, biases 0.1·s,
    /// batch-norm weights 1 + 0.2·s, other weights 2·s/√fan-in, with `s = sin(0.7071·i + 1.3·k + 0.5)`.
    private func fillFromFormula(_ model: Module) throws {
        var filled: [String: Tensor] = [:]
        let entries = model.stateDict().filter { !$0.name.hasSuffix("num_batches_tracked") }.sorted { $0.name < $1.name }
        for (k, (name, tensor)) in entries.enumerated() {
            let count = tensor.count
            let values = (0..<count).map { i -> Float in
                let s = sin(Double(i) * 0.7071 + 1.3 * Double(k) + 0.5)
                if name.hasSuffix("running_mean") { return Float(0.1 * s) }
                if name.hasSuffix("running_var") { return Float(1 + 0.5 * s) }
                if name.hasSuffix("bias") { return Float(0.1 * s) }
                if tensor.rank == 1 { return Float(1 + 0.2 * s) }
                return Float(2 / (Double(count / tensor.shape[0])).squareRoot() * s)
            }
            filled[name] = Tensor(values, shape: tensor.shape)
        }
        try model.loadStateDict(filled)
    }

    private func logits(_ model: Module, batch: Int, side: Int) throws -> Tensor {
        try fillFromFormula(model)
        model.eval()
        let count = batch * 3 * side * side
        let x = Tensor((0..<count).map { Float(cos(Double($0) * 0.013)) }, shape: [batch, 3, side, side])
        return Autograd.noGrad { model(x) }
    }

    func testGroupedBottleneckMatchesTorchvision() throws {
        let model = resnet(block: .bottleneck, layers: [1, 2, 1, 1], numClasses: 5, groups: 4, widthPerGroup: 8)
        XCTAssertEqual(model.parameterCount, 4_120_261)
        XCTAssertEqual(Self.layoutHash(model), 0x6f1e_0c73_5c3a_3e0e, "state-dict names and shapes as torchvision's")
        let y = try logits(model, batch: 2, side: 48)
        assertClose(y.storage, [1006.34, -941.109, 859.503, -762.324, 651.702, 763.779, -733.818, 691.162, -635.925, 569.491],
                    rtol: 2e-4, atol: 1e-3, "ResNet(Bottleneck, [1, 2, 1, 1], groups=4, width_per_group=8)")
    }

    func testWidenedBottleneckMatchesTorchvision() throws {
        let model = resnet(block: .bottleneck, layers: [1, 2, 1, 1], numClasses: 5, widthPerGroup: 128)
        XCTAssertEqual(model.parameterCount, 20_369_221)
        XCTAssertEqual(Self.layoutHash(model), 0x0cee_9880_07c9_9c14, "state-dict names and shapes as torchvision's")
        let y = try logits(model, batch: 2, side: 48)
        assertClose(y.storage, [52.964, -68.4942, 83.1536, -96.0384, 107.321, 48.5728, -62.2349, 75.1374, -86.4078, 96.2471],
                    rtol: 2e-4, atol: 1e-3, "ResNet(Bottleneck, [1, 2, 1, 1], width_per_group=128)")
    }

    /// State-dict layouts of torchvision's named builders (`ModelZooTests` checks them with the parameter counts,
    /// building each model once), so weights converted by `scripts/convert_torchvision.py` load into them.
    static let torchvisionLayouts: [String: UInt64] = [
        "resnext50_32x4d": 0x4e1a_58d3_09f1_efde, "resnext101_32x8d": 0x5b46_80a0_d199_ed9d,
        "resnext101_64x4d": 0x72b7_7ade_8fd6_d752, "wide_resnet50_2": 0x1662_3000_887b_aa6d,
        "wide_resnet101_2": 0x6d6b_7385_b4c1_a5de,
    ]

    func testGenericBuilderWithBasicBlocksIsResNet18() throws {
        let generic = resnet(block: .basic, layers: [2, 2, 2, 2])
        XCTAssertEqual(generic.parameterCount, 11_689_512)
        XCTAssertEqual(Self.layoutHash(generic), Self.layoutHash(try ModelRegistry.build("resnet18")))
    }
}

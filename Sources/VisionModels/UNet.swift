import VisionCore
import VisionNN

/// U-Net (Ronneberger, Fischer & Brox, 2015) with the common modern choices: per level two
/// (3×3 conv, padding 1, no bias → BN → ReLU); 2×2 max-pool down; 2×2 stride-2 transposed conv up;
/// the skip concatenated first, then the upsampled map; a 1×1 conv head.
///
/// Keys match `shared/bench/torch_unet.py`: `down.i.{0,1,3,4}.*`, `up.i.*`, `dec.i.{0,1,3,4}.*`, `head.*`.
/// Inputs whose sides are not multiples of 2^depth are reflect-padded (zero-padded when too small to
/// reflect) and the output cropped back, so the output map always matches the input size.
public final class UNet: Module {
    public let inChannels: Int, numClasses: Int, base: Int, depth: Int
    let down: ModuleList, up: ModuleList, dec: ModuleList
    public private(set) var head: Conv2d

    public init(inChannels: Int = 1, numClasses: Int = 2, base: Int = 32, depth: Int = 4, seed: UInt64 = 0) {
        precondition(depth >= 1 && base >= 1, "U-Net needs depth ≥ 1 and base ≥ 1")
        var g = SeededGenerator(seed: seed)
        self.inChannels = inChannels; self.numClasses = numClasses; self.base = base; self.depth = depth
        let widths = (0...depth).map { base << $0 }
        func doubleConv(_ cin: Int, _ cout: Int) -> Sequential {
            Sequential(Conv2d(cin, cout, kernelSize: 3, padding: 1, bias: false, generator: &g), BatchNorm2d(cout), ReLU(),
                       Conv2d(cout, cout, kernelSize: 3, padding: 1, bias: false, generator: &g), BatchNorm2d(cout), ReLU())
        }
        var downs: [Module] = [doubleConv(inChannels, widths[0])]
        for i in 0..<depth { downs.append(doubleConv(widths[i], widths[i + 1])) }
        down = ModuleList(downs)
        up = ModuleList((0..<depth).reversed().map {
            ConvTranspose2d(widths[$0 + 1], widths[$0], kernelSize: 2, stride: 2, generator: &g)
        })
        dec = ModuleList((0..<depth).reversed().map { doubleConv(widths[$0] * 2, widths[$0]) })
        head = Conv2d(widths[0], numClasses, kernelSize: 1, generator: &g)
        super.init()
        registerModule("down", down); registerModule("up", up); registerModule("dec", dec); registerModule("head", head)
    }

    /// Replaces the 1×1 head for `numClasses` outputs (transfer learning).
    public func replaceHead(numClasses: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        head = Conv2d(head.inChannels, numClasses, kernelSize: 1, generator: &g)
        registerModule("head", head)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inChannels,
                     "U-Net expects [N, \(inChannels), H, W], got \(input.shape)")
        let multiple = 1 << depth
        let (h, w) = (input.shape[2], input.shape[3])
        let padH = (multiple - h % multiple) % multiple, padW = (multiple - w % multiple) % multiple
        var x = input
        if padH > 0 || padW > 0 {
            let canReflect = padH - padH / 2 < h && padW - padW / 2 < w
            x = pad2d(input, top: padH / 2, bottom: padH - padH / 2, left: padW / 2, right: padW - padW / 2,
                      mode: canReflect ? .reflect : .zeros)
        }
        var skips: [Tensor] = []
        for i in 0..<down.count {
            x = down[i](x)
            if i < down.count - 1 {
                skips.append(x)
                x = maxPool2d(x, kernelSize: (2, 2))
            }
        }
        for i in 0..<up.count {
            x = up[i](x)
            x = dec[i](Tensor.concat([skips.removeLast(), x], axis: 1))
        }
        x = head(x)
        return crop2d(x, top: padH / 2, left: padW / 2, height: h, width: w)
    }
}

import VisionCore
import VisionModels
import VisionNN

/// A U-Net's logits for an image too large for one forward pass, computed tile by tile. The image is
/// padded once as `UNet.forward` pads it; tiles start at multiples of 2^depth of that padded image
/// (so every pooling grid lines up with the whole image's) and carry a margin that covers the
/// network's receptive field, so each tile's core equals the whole-image result up to float rounding.
public enum TiledSegmentation {
    /// The receptive-field radius of a U-Net of depth d is below 8·2^d pixels: 2·2^l for each double
    /// convolution at level l on the way down (l = 0…d) and up (l < d), and up to 2^l more for each
    /// pooling and transposed convolution (8·2^d − 6 in all).
    public static func margin(depth: Int) -> Int { 8 << depth }

    /// Logits `[1, classes, H, W]` of `unet` for `input` `[1, C, H, W]`, from tiles whose cores are `core`
    /// pixels (rounded up to a multiple of 2^depth) with `margin` pixels of context on each side.
    public static func logits(_ unet: UNet, input: Tensor, core: Int, margin: Int? = nil) -> Tensor {
        precondition(input.rank == 4 && input.shape[0] == 1 && input.shape[1] == unet.inChannels,
                     "tiled segmentation expects [1, \(unet.inChannels), H, W], got \(input.shape)")
        let multiple = 1 << unet.depth
        func roundUp(_ v: Int) -> Int { (max(v, 1) + multiple - 1) / multiple * multiple }
        let core = roundUp(core), margin = roundUp(margin ?? Self.margin(depth: unet.depth))
        let (h, w) = (input.shape[2], input.shape[3])
        let padH = (multiple - h % multiple) % multiple, padW = (multiple - w % multiple) % multiple
        var padded = input
        if padH > 0 || padW > 0 {
            let canReflect = padH - padH / 2 < h && padW - padW / 2 < w  // as UNet.forward decides
            padded = pad2d(input, top: padH / 2, bottom: padH - padH / 2, left: padW / 2, right: padW - padW / 2,
                           mode: canReflect ? .reflect : .zeros)
        }
        let (paddedH, paddedW) = (h + padH, w + padW)
        let classes = unet.numClasses
        var output = [Float](repeating: 0, count: classes * h * w)
        for top in stride(from: 0, to: paddedH, by: core) {
            for left in stride(from: 0, to: paddedW, by: core) {
                let tileTop = max(top - margin, 0), tileLeft = max(left - margin, 0)
                let tileBottom = min(top + core + margin, paddedH), tileRight = min(left + core + margin, paddedW)
                let tile = crop2d(padded, top: tileTop, left: tileLeft, height: tileBottom - tileTop, width: tileRight - tileLeft)
                let logits = Autograd.noGrad { unet(tile) }
                let (tileH, tileW) = (logits.shape[2], logits.shape[3])
                let values = logits.storage
                // The core, in padded coordinates, written where it falls inside the unpadded image.
                let rows = max(top, padH / 2)..<min(top + core, paddedH, padH / 2 + h)
                let columns = max(left, padW / 2)..<min(left + core, paddedW, padW / 2 + w)
                guard !rows.isEmpty && !columns.isEmpty else { continue }
                for c in 0..<classes {
                    for y in rows {
                        let source = (c * tileH + y - tileTop) * tileW - tileLeft
                        let target = (c * h + y - padH / 2) * w - padW / 2
                        for x in columns { output[target + x] = values[source + x] }
                    }
                }
            }
        }
        return Tensor(shape: [1, classes, h, w], storage: output)
    }
}

import VisionCore

/// Renders activations and filters as images.
public enum FeatureGrid {
    /// Each channel of a `[C, H, W]` map min–max normalised to 0–255 gray bytes (row-major H×W).
    public static func channelImages(_ maps: Tensor) -> [[UInt8]] {
        precondition(maps.rank == 3, "feature maps must be [C, H, W], got \(maps.shape)")
        let (c, hw) = (maps.shape[0], maps.shape[1] * maps.shape[2])
        return (0..<c).map { k in
            Sobel.normalizedBytes(Tensor(shape: [hw], storage: Array(maps.storage[(k * hw)..<((k + 1) * hw)])))
        }
    }

    /// Tiles the channels of `[C, H, W]` (each min–max normalised) into a near-square grid, in
    /// channel order, separated by a `border`-pixel frame.
    public static func grid(_ maps: Tensor, border: Int = 1, borderColor: Canvas.Color = (255, 255, 255)) -> Canvas {
        precondition(maps.rank == 3, "feature maps must be [C, H, W], got \(maps.shape)")
        let tiles = channelImages(maps).map { gray in gray.flatMap { [$0, $0, $0] } }
        return tile(tiles, height: maps.shape[1], width: maps.shape[2], border: border, borderColor: borderColor)
    }

    /// The first convolution's filters `[K, C, kh, kw]` as an RGB grid (C = 3 → colour; otherwise the
    /// channel mean as gray), normalised together so filters can be compared; each filter enlarged by `scale`.
    public static func filters(_ weight: Tensor, scale: Int = 8, border: Int = 2) -> Canvas {
        precondition(weight.rank == 4, "filters must be [K, C, kh, kw], got \(weight.shape)")
        let (k, c, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let lo = weight.storage.min() ?? 0, hi = weight.storage.max() ?? 1
        let range = max(hi - lo, 1e-12)
        func byte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, ((v - lo) / range * 255).rounded()))) }
        var tiles: [[UInt8]] = []
        for f in 0..<k {
            var rgb = [UInt8](repeating: 0, count: kh * kw * 3 * scale * scale)
            for i in 0..<(kh * scale) {
                for j in 0..<(kw * scale) {
                    let src = (i / scale) * kw + (j / scale)
                    var px: [UInt8]
                    if c == 3 {
                        px = (0..<3).map { byte(weight.storage[((f * 3 + $0) * kh * kw) + src]) }
                    } else {
                        let mean = (0..<c).reduce(Float(0)) { $0 + weight.storage[((f * c + $1) * kh * kw) + src] } / Float(c)
                        px = [byte(mean), byte(mean), byte(mean)]
                    }
                    let o = 3 * (i * kw * scale + j)
                    rgb[o] = px[0]; rgb[o + 1] = px[1]; rgb[o + 2] = px[2]
                }
            }
            tiles.append(rgb)
        }
        return tile(tiles, height: kh * scale, width: kw * scale, border: border, borderColor: (255, 255, 255))
    }

    /// Lays out equally sized RGB tiles in a near-square grid.
    public static func tile(_ tiles: [[UInt8]], height: Int, width: Int, border: Int, borderColor: Canvas.Color) -> Canvas {
        let n = max(tiles.count, 1)
        var columns = 1
        while columns * columns < n { columns += 1 }
        let rows = (n + columns - 1) / columns
        var canvas = Canvas(width: columns * (width + border) + border, height: rows * (height + border) + border, background: borderColor)
        for (t, tile) in tiles.enumerated() {
            let ox = border + (t % columns) * (width + border), oy = border + (t / columns) * (height + border)
            for y in 0..<height {
                for x in 0..<width {
                    let s = 3 * (y * width + x)
                    canvas.set(ox + x, oy + y, (tile[s], tile[s + 1], tile[s + 2]))
                }
            }
        }
        return canvas
    }
}

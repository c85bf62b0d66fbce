import CBLAS
import CKernels

/// 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2015): the
/// filter and 4×4 input tiles are transformed (`ck_winograd_*`), 16 products over the channels run on
/// the packed kernels (the transforms are compiled for AVX-512 and for AVX2), and each 2×2 output tile is transformed back — 2.25× fewer multiplies
/// than the direct product, for a few more float roundings (agrees with it to ~1e-6 relative). The
/// weight gradient runs over the same tiles (`weightGradient`).
enum Winograd {
    /// Whether `g` (per group: `channels` inputs, `outChannels` outputs) runs this way.
    static func applies(_ g: ConvolutionGeometry, channels: Int, outChannels: Int) -> Bool {
        ConvolutionTuning.winogradMaximumPlane > 0
            && min(channels, outChannels) >= ConvolutionTuning.winogradMinimumChannels
            && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1 && g.paddingHeight == g.paddingWidth
            && g.outputHeight > 0 && g.outputWidth > 0
            && g.outputPlane <= ConvolutionTuning.winogradMaximumPlane
    }

    /// Images per chunk so that one chunk's transformed tiles (inputs and products) stay within about 16 MiB.
    static func imagesPerChunk(batch: Int, channels: Int, outChannels: Int, tilesPerImage: Int) -> Int {
        max(1, min(batch, (4 << 20) / max(16 * (channels + outChannels) * tilesPerImage, 1)))
    }

    /// The input tiles Bᵀ d B of `images` images from `source`, in parallel over the channels, into `v`.
    static func transformInput(_ source: UnsafePointer<Float>, images: Int, geometry g: ConvolutionGeometry,
                               channels: Int, channelStride: Int, imageStride: Int, tilesH: Int, tilesW: Int,
                               into v: UnsafeMutablePointer<Float>) {
        let columns = images * tilesH * tilesW
        Parallel.forEach(channels, grain: 1) {
            ck_winograd_input(source, g.height, g.width, g.paddingHeight, channelStride, imageStride, images,
                              tilesH, tilesW, v, channels * columns, $0.lowerBound, $0.upperBound)
        }
    }

    /// `y (=|+=) conv2d(x, w)` for one group: `x` has `channels` planes `channelStride` apart per image,
    /// `w` is `[outChannels, channels, 3, 3]`, `y` has `outChannels` planes `outputChannelStride` apart.
    static func forward(input x: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                        channels: Int, channelStride: Int, imageStride: Int,
                        weight w: UnsafePointer<Float>, outChannels: Int,
                        output y: UnsafeMutablePointer<Float>, outputChannelStride: Int, outputImageStride: Int,
                        accumulate: Bool, epilogue: ck_epilogue? = nil) {
        let (tilesH, tilesW) = ((g.outputHeight + 1) / 2, (g.outputWidth + 1) / 2)
        let tilesPerImage = tilesH * tilesW
        // Transformed filters, written straight into the packed layout of the 16 products.
        let packed = (0..<16).map { _ in PackedGEMM.PackedMatrix(rows: outChannels, depth: channels) }
        let storages: [UnsafeMutablePointer<Float>?] = packed.map(\.storage)
        let panels = (outChannels + PackedGEMM.tileRows - 1) / PackedGEMM.tileRows
        storages.withUnsafeBufferPointer { pointers in
            let pointers = pointers.baseAddress!
            Parallel.forEach(panels, grain: 1) {
                ck_winograd_filter_packed(w, outChannels, channels, pointers,
                                          $0.lowerBound * PackedGEMM.tileRows, $0.upperBound * PackedGEMM.tileRows)
            }
        }
        let chunk = imagesPerChunk(batch: batch, channels: channels, outChannels: outChannels, tilesPerImage: tilesPerImage)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * channels * chunk * tilesPerImage)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * chunk * tilesPerImage)
        defer { v.deallocate(); m.deallocate() }
        var first = 0
        while first < batch {
            let images = min(chunk, batch - first), columns = images * tilesPerImage
            let target = y + first * outputImageStride
            transformInput(x + first * imageStride, images: images, geometry: g, channels: channels,
                           channelStride: channelStride, imageStride: imageStride, tilesH: tilesH, tilesW: tilesW, into: v)
            // The 16 products are independent: each thread takes whole products (no split of a product's
            // few column tiles between threads, one synchronisation instead of 16).
            Parallel.forEachIndex(16) { xi in
                var b = PackedGEMM.planes(v + xi * channels * columns, channels: channels, height: 1, width: columns,
                                          imageStride: channels * columns)
                var c = ck_planes(data: m + xi * outChannels * columns, plane: columns, row_stride: columns,
                                  image_stride: outChannels * columns, first_column: 0)
                ck_gemm(outChannels, channels, packed[xi].storage, &b, &c, 0, 0, outChannels, 0, columns, nil)
            }
            // The epilogue's residual is laid out as y: start it at this chunk's first image too.
            var chunkEpilogue = epilogue ?? ck_epilogue()
            chunkEpilogue.residual = chunkEpilogue.residual.map { $0 + first * outputImageStride }
            withUnsafePointer(to: &chunkEpilogue) { e in
                let e = epilogue == nil ? nil : e
                Parallel.forEach(outChannels, grain: 1) {
                    ck_winograd_output(m, outChannels * columns, images, tilesH, tilesW, target, g.outputHeight, g.outputWidth,
                                       outputChannelStride, outputImageStride, accumulate ? 1 : 0, $0.lowerBound, $0.upperBound, e)
                }
            }
            first += images
        }
    }

    /// `dw += ∂L/∂w` of `y = conv2d(x, w)` for one group, from `dy` (`outChannels` planes
    /// `gradOutputChannelStride` apart per image): with y = Aᵀ[(G w Gᵀ) ⊙ V]A per tile,
    /// ∂L/∂w = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ V]G — the input tiles transformed as in `forward`, the 2×2 tiles
    /// of dY transformed, 16 products over the tiles (on OpenBLAS: their reduction runs over every
    /// tile of the batch, which it handles well), and one filter transform at the end.
    static func weightGradient(input x: UnsafePointer<Float>, batch: Int, geometry g: ConvolutionGeometry,
                               channels: Int, channelStride: Int, imageStride: Int,
                               gradOutput dy: UnsafePointer<Float>, outChannels: Int,
                               gradOutputChannelStride: Int, gradOutputImageStride: Int,
                               gradWeight dw: UnsafeMutablePointer<Float>) {
        let (tilesH, tilesW) = ((g.outputHeight + 1) / 2, (g.outputWidth + 1) / 2)
        let tilesPerImage = tilesH * tilesW
        let chunk = imagesPerChunk(batch: batch, channels: channels, outChannels: outChannels, tilesPerImage: tilesPerImage)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * channels * chunk * tilesPerImage)
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * chunk * tilesPerImage)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * channels)
        defer { v.deallocate(); u.deallocate(); sums.deallocate() }
        var first = 0
        while first < batch {
            let images = min(chunk, batch - first), columns = images * tilesPerImage
            let gradient = dy + first * gradOutputImageStride
            transformInput(x + first * imageStride, images: images, geometry: g, channels: channels,
                           channelStride: channelStride, imageStride: imageStride, tilesH: tilesH, tilesW: tilesW, into: v)
            Parallel.forEach(outChannels, grain: 1) {
                ck_winograd_output_gradient(gradient, g.outputHeight, g.outputWidth, gradOutputChannelStride,
                                            gradOutputImageStride, images, tilesH, tilesW, u, outChannels * columns,
                                            $0.lowerBound, $0.upperBound)
            }
            // sums[ξ] (=|+=) u[ξ] · v[ξ]ᵀ: each thread takes whole products with OpenBLAS on one thread
            // (BLAS.splitsAcrossCores), or OpenBLAS threads each product itself (VISION_BLAS_SPLIT=0).
            let beta: Float = first == 0 ? 0 : 1
            func product(_ xi: Int) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(outChannels), Int32(channels), Int32(columns),
                            1, u + xi * outChannels * columns, Int32(columns), v + xi * channels * columns, Int32(columns),
                            beta, sums + xi * outChannels * channels, Int32(channels))
            }
            if BLAS.splitsAcrossCores {
                Parallel.forEachIndex(16, product)
            } else {
                for xi in 0..<16 { product(xi) }
            }
            first += images
        }
        Parallel.forEach(outChannels, grain: 1) {
            ck_winograd_filter_gradient(sums, outChannels * channels, channels, dw, $0.lowerBound, $0.upperBound)
        }
    }
}

// im2col / col2im: the column matrix that turns a convolution into one matrix product.

/// The window geometry of a 2-D convolution over images of `channels × height × width`.
///
/// Output extent per axis: `O = floor((I + 2P − D·(K − 1) − 1) / S) + 1`.
/// The column matrix has `rows = channels · kh · kw` rows, row `(c·kh + i)·kw + j` holding the input
/// sample that kernel tap `(i, j)` of channel `c` sees, and one column per output position.
public struct ConvolutionGeometry: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let kernelHeight: Int
    public let kernelWidth: Int
    public let strideHeight: Int
    public let strideWidth: Int
    public let paddingHeight: Int
    public let paddingWidth: Int
    public let dilationHeight: Int
    public let dilationWidth: Int
    public let outputHeight: Int
    public let outputWidth: Int

    /// Output extent of one axis: `floor((input + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1`.
    public static func outputExtent(input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int {
        let span = input + 2 * padding - dilation * (kernel - 1) - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// Geometry whose output size follows the convolution formula.
    public init(channels: Int, height: Int, width: Int, kernelSize: (Int, Int),
                stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        self.init(channels: channels, height: height, width: width, kernelSize: kernelSize,
                  stride: stride, padding: padding, dilation: dilation, outputSize: nil)
    }

    /// Geometry with an explicit output size no larger than the formula's (used by transposed
    /// convolutions whose output padding leaves trailing input rows that no window reaches).
    public init(channels: Int, height: Int, width: Int, kernelSize: (Int, Int),
                stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), outputSize: (Int, Int)?) {
        precondition(channels > 0 && height > 0 && width > 0,
                     "convolution input needs positive extents, got channels \(channels), \(height)×\(width)")
        precondition(kernelSize.0 > 0 && kernelSize.1 > 0, "kernel size must be positive, got \(kernelSize)")
        precondition(stride.0 > 0 && stride.1 > 0, "stride must be positive, got \(stride)")
        precondition(dilation.0 > 0 && dilation.1 > 0, "dilation must be positive, got \(dilation)")
        precondition(padding.0 >= 0 && padding.1 >= 0, "padding must be non-negative, got \(padding)")
        self.channels = channels
        self.height = height
        self.width = width
        (kernelHeight, kernelWidth) = kernelSize
        (strideHeight, strideWidth) = stride
        (paddingHeight, paddingWidth) = padding
        (dilationHeight, dilationWidth) = dilation
        let fullHeight = Self.outputExtent(input: height, kernel: kernelSize.0, stride: stride.0,
                                           padding: padding.0, dilation: dilation.0)
        let fullWidth = Self.outputExtent(input: width, kernel: kernelSize.1, stride: stride.1,
                                          padding: padding.1, dilation: dilation.1)
        precondition(fullHeight > 0 && fullWidth > 0,
                     "dilated kernel \(kernelSize) (dilation \(dilation)) is larger than the padded input "
                     + "\(height)×\(width) + 2·\(padding)")
        if let outputSize {
            precondition(outputSize.0 > 0 && outputSize.0 <= fullHeight && outputSize.1 > 0 && outputSize.1 <= fullWidth,
                         "output size \(outputSize) exceeds the \(fullHeight)×\(fullWidth) windows of input \(height)×\(width)")
            (outputHeight, outputWidth) = outputSize
        } else {
            (outputHeight, outputWidth) = (fullHeight, fullWidth)
        }
    }

    /// Rows of the column matrix: `channels · kh · kw`.
    public var rows: Int { channels * kernelHeight * kernelWidth }
    /// Output positions of one image: `outputHeight · outputWidth`.
    public var outputPlane: Int { outputHeight * outputWidth }
    /// Input elements of one image: `channels · height · width`.
    public var imageSize: Int { channels * height * width }
    /// Whether the column matrix of one image is the image itself (1×1 kernel, stride 1, no padding).
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
            && paddingHeight == 0 && paddingWidth == 0
    }

    /// The output columns `lower..<upper` whose input column `ow·S + offset` lies inside `0..<width`.
    @inline(__always)
    func validColumns(offset: Int) -> (lower: Int, upper: Int) {
        var lower = 0
        if offset < 0 { lower = (-offset + strideWidth - 1) / strideWidth }
        var upper = 0
        if width - offset > 0 { upper = (width - offset + strideWidth - 1) / strideWidth }
        upper = min(upper, outputWidth)
        return (min(lower, upper), upper)
    }
}

/// Fills the column matrix for a range of output rows of a batch of images.
///
/// `images` holds `[N, C, H, W]`; `outputRows` indexes the flattened output rows `n·OH + oh` of that
/// batch. `columns` receives `[geometry.rows, outputRows.count · OW]` (row-major, fully overwritten):
/// `columns[(c·kh + i)·kw + j, (q − q₀)·OW + ow] = x[n, c, oh·S − P + i·D, ow·S − P + j·D]`, or 0
/// outside the image. Rows are filled in parallel.
public func im2col(_ images: UnsafePointer<Float>, geometry g: ConvolutionGeometry, outputRows: Range<Int>,
                   columns: UnsafeMutablePointer<Float>) {
    let width = outputRows.count * g.outputWidth
    guard width > 0 else { return }
    let kernelArea = g.kernelHeight * g.kernelWidth
    let plane = g.height * g.width
    Parallel.forEach(g.rows, grain: max(1, 16_384 / width)) { rowRange in
        for row in rowRange {
            let c = row / kernelArea
            let i = (row % kernelArea) / g.kernelWidth
            let j = row % g.kernelWidth
            let rowOffset = i * g.dilationHeight - g.paddingHeight
            let columnOffset = j * g.dilationWidth - g.paddingWidth
            let (lower, upper) = g.validColumns(offset: columnOffset)
            var dst = columns + row * width
            var n = outputRows.lowerBound / g.outputHeight
            var oh = outputRows.lowerBound % g.outputHeight
            for _ in outputRows {
                let iy = oh * g.strideHeight + rowOffset
                if iy < 0 || iy >= g.height {
                    dst.update(repeating: 0, count: g.outputWidth)
                } else {
                    let src = images + (n * g.channels + c) * plane + iy * g.width + columnOffset
                    if lower > 0 { dst.update(repeating: 0, count: lower) }
                    if g.strideWidth == 1 {
                        (dst + lower).update(from: src + lower, count: upper - lower)
                    } else {
                        let s = g.strideWidth
                        for ow in lower..<upper { dst[ow] = src[ow * s] }
                    }
                    if upper < g.outputWidth { (dst + upper).update(repeating: 0, count: g.outputWidth - upper) }
                }
                dst += g.outputWidth
                oh += 1
                if oh == g.outputHeight { oh = 0; n += 1 }
            }
        }
    }
}

/// Adds a column matrix back onto the images it was taken from: the adjoint of `im2col`.
///
/// `columns` is `[geometry.rows, outputRows.count · OW]` for the flattened output rows `outputRows`;
/// every entry is added (`+=`) to the input pixel it was read from (entries that read padding are
/// dropped). `images` (`[N, C, H, W]`) must hold the values to accumulate onto, usually zeros.
/// Channels are processed in parallel.
public func col2im(_ columns: UnsafePointer<Float>, geometry g: ConvolutionGeometry, outputRows: Range<Int>,
                   accumulatingInto images: UnsafeMutablePointer<Float>) {
    let width = outputRows.count * g.outputWidth
    guard width > 0 else { return }
    let kernelArea = g.kernelHeight * g.kernelWidth
    let plane = g.height * g.width
    Parallel.forEach(g.channels, grain: max(1, 16_384 / (width * kernelArea))) { channelRange in
        for c in channelRange {
            for tap in 0..<kernelArea {
                let i = tap / g.kernelWidth
                let j = tap % g.kernelWidth
                let rowOffset = i * g.dilationHeight - g.paddingHeight
                let columnOffset = j * g.dilationWidth - g.paddingWidth
                let (lower, upper) = g.validColumns(offset: columnOffset)
                var src = columns + (c * kernelArea + tap) * width
                var n = outputRows.lowerBound / g.outputHeight
                var oh = outputRows.lowerBound % g.outputHeight
                for _ in outputRows {
                    let iy = oh * g.strideHeight + rowOffset
                    if iy >= 0 && iy < g.height {
                        let dst = images + (n * g.channels + c) * plane + iy * g.width + columnOffset
                        let s = g.strideWidth
                        for ow in lower..<upper { dst[ow * s] += src[ow] }
                    }
                    src += g.outputWidth
                    oh += 1
                    if oh == g.outputHeight { oh = 0; n += 1 }
                }
            }
        }
    }
}

/// The column matrix `[geometry.rows, batch · OH · OW]` of a batch `[batch, C, H, W]` (see the pointer form).
public func im2col(_ images: [Float], batch: Int, geometry: ConvolutionGeometry) -> [Float] {
    precondition(images.count == batch * geometry.imageSize,
                 "im2col: \(images.count) values do not form \(batch) images of \(geometry.channels)×\(geometry.height)×\(geometry.width)")
    let count = geometry.rows * batch * geometry.outputPlane
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        images.withUnsafeBufferPointer { x in
            im2col(x.baseAddress!, geometry: geometry, outputRows: 0..<(batch * geometry.outputHeight),
                   columns: buffer.baseAddress!)
        }
        initialized = count
    }
}

/// The batch `[batch, C, H, W]` that sums a column matrix `[geometry.rows, batch · OH · OW]` back
/// onto its source pixels (the adjoint of `im2col`).
public func col2im(_ columns: [Float], batch: Int, geometry: ConvolutionGeometry) -> [Float] {
    precondition(columns.count == geometry.rows * batch * geometry.outputPlane,
                 "col2im: \(columns.count) values do not form a \(geometry.rows)×\(batch * geometry.outputPlane) column matrix")
    var images = [Float](repeating: 0, count: batch * geometry.imageSize)
    images.withUnsafeMutableBufferPointer { x in
        columns.withUnsafeBufferPointer { col in
            col2im(col.baseAddress!, geometry: geometry, outputRows: 0..<(batch * geometry.outputHeight),
                   accumulatingInto: x.baseAddress!)
        }
    }
    return images
}

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

/// Output rows `oh` of `images` consecutive images starting at `image` that a chunk covers (several
/// images only when they are whole), and where they start in the chunk's columns.
struct ImageSegment {
    var image: Int
    var images: Int
    var rows: Range<Int>
    var columnOffset: Int
}

extension ConvolutionGeometry {
    /// Splits flattened output rows `n·OH + oh` into a partial first image, a run of whole images and
    /// a partial last image.
    func segments(_ outputRows: Range<Int>) -> [ImageSegment] {
        var result: [ImageSegment] = []
        var q = outputRows.lowerBound
        while q < outputRows.upperBound {
            let image = q / outputHeight
            let start = q - image * outputHeight
            let offset = (q - outputRows.lowerBound) * outputWidth
            let wholeImages = start == 0 ? (outputRows.upperBound - q) / outputHeight : 0
            if wholeImages > 0 {
                result.append(ImageSegment(image: image, images: wholeImages, rows: 0..<outputHeight, columnOffset: offset))
                q += wholeImages * outputHeight
            } else {
                let end = min(outputRows.upperBound, (image + 1) * outputHeight)
                result.append(ImageSegment(image: image, images: 1, rows: start..<(end - image * outputHeight), columnOffset: offset))
                q = end
            }
        }
        return result
    }

    /// Whether every kernel tap sees a shifted copy of the whole plane (stride 1, output width =
    /// input width, as in "same" convolutions): one column row per image is then one block copy.
    var isShiftCopy: Bool { strideHeight == 1 && strideWidth == 1 && outputWidth == width }

    /// For a shift-copy geometry and a tap with offsets `(dy, dx)`: the output rows of `rows` that read
    /// inside the image.
    @inline(__always)
    func validRows(_ rows: Range<Int>, dy: Int) -> Range<Int> {
        let lower = max(rows.lowerBound, -dy), upper = min(rows.upperBound, height - dy)
        return lower < upper ? lower..<upper : rows.lowerBound..<rows.lowerBound
    }
}

/// Fills one column row (tap `(i, j)` of channel `c`, offsets `(dy, dx)`) for a segment of `images`
/// images whose planes are `imageStride` apart.
@inline(__always)
private func im2colRow(_ firstPlane: UnsafePointer<Float>, _ firstDestination: UnsafeMutablePointer<Float>,
                       _ g: ConvolutionGeometry, rows: Range<Int>, images: Int, imageStride: Int, dy: Int, dx: Int) {
    let outWidth = g.outputWidth
    let block = rows.count * outWidth
    if g.isShiftCopy {
        // dst[(oh − oh₀)·W + ow] = plane[(oh + dy)·W + ow + dx] for the valid rows; the columns that
        // wrap around a row edge, and invalid rows, are zero.
        let valid = g.validRows(rows, dy: dy)
        let begin = (valid.lowerBound - rows.lowerBound) * outWidth
        let end = (valid.upperBound - rows.lowerBound) * outWidth
        let shift = (valid.lowerBound + dy) * outWidth + dx - begin
        let first = min(begin + max(0, -dx), end), last = max(end - max(0, dx), first)
        let wrapped = begin < end ? min(abs(dx), outWidth) : 0
        let wrapStart = begin + (dx < 0 ? 0 : outWidth - wrapped)
        for m in 0..<images {
            let plane = firstPlane + m * imageStride, dst = firstDestination + m * block
            for t in 0..<begin { dst[t] = 0 }
            for t in first..<last { dst[t] = plane[t + shift] }
            if wrapped > 0 {
                var rowStart = wrapStart
                while rowStart < end {
                    for t in rowStart..<(rowStart + wrapped) { dst[t] = 0 }
                    rowStart += outWidth
                }
            }
            for t in end..<block { dst[t] = 0 }
        }
        return
    }
    let (lower, upper) = g.validColumns(offset: dx)
    let strideWidth = g.strideWidth
    for m in 0..<images {
        let plane = firstPlane + m * imageStride
        var out = firstDestination + m * block
        for oh in rows {
            let iy = oh * g.strideHeight + dy
            if iy < 0 || iy >= g.height {
                for ow in 0..<outWidth { out[ow] = 0 }
            } else {
                let src = plane + iy * g.width + dx
                for ow in 0..<lower { out[ow] = 0 }
                if strideWidth == 1 {
                    for ow in lower..<upper { out[ow] = src[ow] }
                } else {
                    for ow in lower..<upper { out[ow] = src[ow * strideWidth] }
                }
                for ow in upper..<outWidth { out[ow] = 0 }
            }
            out += outWidth
        }
    }
}

/// Adds one column row back onto the planes of a segment of `images` images. With `scratch` (the
/// same memory as `source`, writable), the shift-copy path zeroes the row's padding entries so that
/// it can add whole blocks.
@inline(__always)
private func col2imRow(_ firstSource: UnsafePointer<Float>, scratch firstScratch: UnsafeMutablePointer<Float>?,
                       _ firstPlane: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, rows: Range<Int>,
                       images: Int, imageStride: Int, dy: Int, dx: Int) {
    let outWidth = g.outputWidth
    let block = rows.count * outWidth
    if g.isShiftCopy, let firstScratch {
        let valid = g.validRows(rows, dy: dy)
        let begin = (valid.lowerBound - rows.lowerBound) * outWidth
        let end = (valid.upperBound - rows.lowerBound) * outWidth
        guard begin < end else { return }
        let wrapped = min(abs(dx), outWidth)
        let wrapStart = begin + (dx < 0 ? 0 : outWidth - wrapped)
        let shift = (valid.lowerBound + dy) * outWidth + dx - begin
        let first = min(begin + max(0, -dx), end), last = max(end - max(0, dx), first)
        for m in 0..<images {
            let scratch = firstScratch + m * block, src = firstSource + m * block
            let plane = firstPlane + m * imageStride
            if wrapped > 0 {
                var rowStart = wrapStart
                while rowStart < end {
                    for t in rowStart..<(rowStart + wrapped) { scratch[t] = 0 }
                    rowStart += outWidth
                }
            }
            for t in first..<last { plane[t + shift] += src[t] }
        }
        return
    }
    let (lower, upper) = g.validColumns(offset: dx)
    let strideWidth = g.strideWidth
    for m in 0..<images {
        let plane = firstPlane + m * imageStride
        var input = firstSource + m * block
        for oh in rows {
            let iy = oh * g.strideHeight + dy
            if iy >= 0 && iy < g.height {
                let dst = plane + iy * g.width + dx
                if strideWidth == 1 {
                    for ow in lower..<upper { dst[ow] += input[ow] }
                } else {
                    for ow in lower..<upper { dst[ow * strideWidth] += input[ow] }
                }
            }
            input += outWidth
        }
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
    let planeSize = g.height * g.width
    let segments = g.segments(outputRows)
    Parallel.forEach(g.rows, grain: max(1, 16_384 / width)) { rowRange in
        for row in rowRange {
            let c = row / kernelArea
            let dy = (row % kernelArea) / g.kernelWidth * g.dilationHeight - g.paddingHeight
            let dx = row % g.kernelWidth * g.dilationWidth - g.paddingWidth
            for segment in segments {
                im2colRow(images + (segment.image * g.channels + c) * planeSize, columns + row * width + segment.columnOffset,
                          g, rows: segment.rows, images: segment.images, imageStride: g.imageSize, dy: dy, dx: dx)
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
public func col2im(_ columns: UnsafePointer<Float>, geometry: ConvolutionGeometry, outputRows: Range<Int>,
                   accumulatingInto images: UnsafeMutablePointer<Float>) {
    col2im(columns, scratch: nil, geometry: geometry, outputRows: outputRows, accumulatingInto: images)
}

/// `col2im` that may overwrite the padding entries of `columns` (faster for "same" convolutions).
func col2im(overwriting columns: UnsafeMutablePointer<Float>, geometry: ConvolutionGeometry, outputRows: Range<Int>,
            accumulatingInto images: UnsafeMutablePointer<Float>) {
    col2im(columns, scratch: columns, geometry: geometry, outputRows: outputRows, accumulatingInto: images)
}

private func col2im(_ columns: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>?, geometry g: ConvolutionGeometry,
                    outputRows: Range<Int>, accumulatingInto images: UnsafeMutablePointer<Float>) {
    let width = outputRows.count * g.outputWidth
    guard width > 0 else { return }
    let kernelArea = g.kernelHeight * g.kernelWidth
    let planeSize = g.height * g.width
    let segments = g.segments(outputRows)
    Parallel.forEach(g.channels, grain: max(1, 16_384 / (width * kernelArea))) { channelRange in
        for c in channelRange {
            for tap in 0..<kernelArea {
                let dy = tap / g.kernelWidth * g.dilationHeight - g.paddingHeight
                let dx = tap % g.kernelWidth * g.dilationWidth - g.paddingWidth
                let offset = (c * kernelArea + tap) * width
                for segment in segments {
                    col2imRow(columns + offset + segment.columnOffset, scratch: scratch.map { $0 + offset + segment.columnOffset },
                              images + (segment.image * g.channels + c) * planeSize, g, rows: segment.rows,
                              images: segment.images, imageStride: g.imageSize, dy: dy, dx: dx)
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
    if count == 0 { return [] }
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
    if images.isEmpty { return images }
    images.withUnsafeMutableBufferPointer { x in
        columns.withUnsafeBufferPointer { col in
            col2im(col.baseAddress!, geometry: geometry, outputRows: 0..<(batch * geometry.outputHeight),
                   accumulatingInto: x.baseAddress!)
        }
    }
    return images
}

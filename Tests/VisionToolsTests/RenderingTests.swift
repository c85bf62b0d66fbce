import Foundation
import TestSupport
import VisionCore
import VisionImage
import VisionTools
import XCTest

/// Canvas drawing, training-curve plots and feature-map grids.
final class RenderingTests: XCTestCase {
    func isWhite(_ c: Canvas.Color) -> Bool { c.0 == 255 && c.1 == 255 && c.2 == 255 }

    func count(_ canvas: Canvas, _ color: Canvas.Color) -> Int {
        var n = 0
        for i in stride(from: 0, to: canvas.pixels.count, by: 3)
        where canvas.pixels[i] == color.0 && canvas.pixels[i + 1] == color.1 && canvas.pixels[i + 2] == color.2 { n += 1 }
        return n
    }

    // MARK: Canvas

    func testCanvasTextDrawsTheFiveBySevenGlyphs() {
        var canvas = Canvas(width: 20, height: 10)
        canvas.text("1", x: 2, y: 1, (0, 0, 0))
        // "1" = rows 00100 / 01100 / 00100 ×4 / 01110: 2 + 1·5 + 3 + … = 10 pixels.
        XCTAssertEqual(count(canvas, (0, 0, 0)), 10)
        XCTAssertTrue(isWhite(canvas.get(2, 1)), "the top row of '1' is only its middle pixel")
        XCTAssertEqual(canvas.get(4, 1).0, 0)
        XCTAssertEqual(canvas.get(3, 2).0, 0)
        XCTAssertEqual(canvas.get(3, 7).0, 0, "bottom serif")
        XCTAssertEqual(canvas.get(5, 7).0, 0)
        XCTAssertTrue(isWhite(canvas.get(6, 7)))

        XCTAssertEqual(Canvas.textWidth("abc"), 18, "6 pixels per character")
        XCTAssertEqual(Canvas.textWidth("ab", scale: 3), 36)
        // Lower case is drawn as upper case; unknown characters as '?'.
        var lower = Canvas(width: 12, height: 8), upper = Canvas(width: 12, height: 8)
        lower.text("ok", x: 0, y: 0, (0, 0, 0))
        upper.text("OK", x: 0, y: 0, (0, 0, 0))
        XCTAssertEqual(lower.pixels, upper.pixels)
        var unknown = Canvas(width: 6, height: 8), question = Canvas(width: 6, height: 8)
        unknown.text("€", x: 0, y: 0, (0, 0, 0))
        question.text("?", x: 0, y: 0, (0, 0, 0))
        XCTAssertEqual(unknown.pixels, question.pixels)
        // Scale 2 doubles every font pixel; drawing off the canvas is clipped, not a crash.
        var big = Canvas(width: 20, height: 20)
        big.text("1", x: 0, y: 0, (0, 0, 0), scale: 2)
        XCTAssertEqual(count(big, (0, 0, 0)), 40)
        big.text("WWW", x: 15, y: 17, (9, 9, 9))
        big.line(-5, -5, 30, 30, (1, 2, 3), thickness: 3)
        XCTAssertEqual(big.get(10, 10).0, 1)
    }

    func testCanvasShapes() {
        var canvas = Canvas(width: 10, height: 6, background: (0, 0, 0))
        canvas.rectangle(x: 1, y: 1, width: 8, height: 4, (255, 0, 0))
        XCTAssertEqual(count(canvas, (255, 0, 0)), 2 * 8 + 2 * 2, "the outline of an 8×4 rectangle")
        canvas.fill(x: 2, y: 2, width: 6, height: 2, (0, 255, 0))
        XCTAssertEqual(count(canvas, (0, 255, 0)), 12)
        let image = canvas.image
        XCTAssertEqual([image.width, image.height, image.channels], [10, 6, 3])
        XCTAssertEqual(Array(image.pixels[0..<3]), [0, 0, 0])
    }

    // MARK: Plots

    func testLineChartDrawsSeriesAxesAndLegend() throws {
        let chart = Plot.lineChart(title: "loss", series: [Plot.Series("train", [2.0, 1.5, 1.2, 0.9]),
                                                           Plot.Series("validation", [2.1, 1.7, 1.6, 1.5])])
        XCTAssertEqual([chart.width, chart.height], [640, 400])
        XCTAssertGreaterThan(count(chart, (31, 119, 180)), 100, "the first series' line")
        XCTAssertGreaterThan(count(chart, (255, 127, 14)), 100, "the second series' line")
        XCTAssertGreaterThan(count(chart, (0, 0, 0)), 500, "axes, ticks and text")
        // It encodes as a PNG.
        let png = try ImageIO.encodePNG(chart.image)
        XCTAssertEqual(try ImageIO.decode(png, source: "chart").width, 640)
    }

    func testLineChartSkipsNonFiniteValuesWithoutCrashing() {
        let nan = Plot.lineChart(title: "gaps", series: [Plot.Series("a", [1, .nan, 3, .infinity, 2, -.infinity])])
        XCTAssertGreaterThan(count(nan, (31, 119, 180)), 20, "finite points are still drawn")
        let allNaN = Plot.lineChart(title: "nothing", series: [Plot.Series("a", [.nan, .nan])])
        XCTAssertTrue(allNaN.pixels.contains { $0 < 128 }, "axes and title still render")
        let single = Plot.lineChart(title: "one", series: [Plot.Series("a", [0.5])])
        XCTAssertGreaterThanOrEqual(count(single, (31, 119, 180)), 9, "a lone point is a 3×3 dot (plus the legend)")
        let empty = Plot.lineChart(title: "empty", series: [])
        XCTAssertEqual(empty.width, 640)
        let constant = Plot.lineChart(title: "flat", series: [Plot.Series("a", [1, 1, 1])], width: 200, height: 120)
        XCTAssertEqual([constant.width, constant.height], [200, 120])
        let logX = Plot.lineChart(title: "lr", series: [Plot.Series("a", [3, 2, 1, 5])], xValues: [1e-5, 1e-4, 1e-3, 1e-2], logX: true)
        XCTAssertGreaterThan(count(logX, (31, 119, 180)), 50)
    }

    func testConfusionMatrixImageShadesTheDiagonal() {
        var m = ConfusionMatrix(classes: 3)
        m.add(predictions: [0, 0, 1, 2, 2, 2], targets: [0, 0, 1, 2, 2, 1])
        let canvas = Plot.confusionMatrix(m, classNames: ["cat", "dog", "bird"])
        let labelWidth = 4 * 6 + 8
        XCTAssertEqual(canvas.width, labelWidth + 3 * 28 + 10)
        XCTAssertEqual(canvas.height, canvas.width + 20)
        // Cell (truth 0, prediction 0) holds the whole row: the darkest green.
        let origin = (labelWidth, 20 + labelWidth)
        let cell = canvas.get(origin.0 + 1, origin.1 + 1)
        XCTAssertEqual(cell.0, 40)
        XCTAssertGreaterThan(cell.1, cell.0)
        // Cell (truth 0, prediction 1) is empty: white.
        XCTAssertTrue(isWhite(canvas.get(origin.0 + 28 + 1, origin.1 + 1)))
    }

    // MARK: Feature grids

    func testGridLayoutIsNearSquareWithAOnePixelFrame() {
        for (channels, columns, rows) in [(1, 1, 1), (2, 2, 1), (3, 2, 2), (5, 3, 2), (16, 4, 4), (17, 5, 4), (64, 8, 8)] {
            let maps = Tensor.zeros([channels, 3, 4])
            let grid = FeatureGrid.grid(maps)
            XCTAssertEqual(grid.width, columns * (4 + 1) + 1, "\(channels) channels")
            XCTAssertEqual(grid.height, rows * (3 + 1) + 1, "\(channels) channels")
        }
        XCTAssertEqual(FeatureGrid.grid(Tensor.zeros([4, 2, 2]), border: 3).width, 2 * 5 + 3)
    }

    func testGridTilesAreNormalisedPerChannelInChannelOrder() {
        // Channel 0 ramps 0…3, channel 1 is constant (→ black), channel 2 ramps downwards.
        let maps = Tensor([0, 1, 2, 3, 5, 5, 5, 5, 30, 20, 10, 0], shape: [3, 2, 2])
        let grid = FeatureGrid.grid(maps)
        XCTAssertEqual([grid.width, grid.height], [7, 7])
        XCTAssertTrue(isWhite(grid.get(0, 0)), "frame")
        XCTAssertTrue(isWhite(grid.get(3, 1)), "frame between tiles")
        let tile0 = [grid.get(1, 1), grid.get(2, 1), grid.get(1, 2), grid.get(2, 2)].map(\.0)
        XCTAssertEqual(tile0, [0, 85, 170, 255])
        XCTAssertEqual([grid.get(4, 1), grid.get(5, 2)].map(\.0), [0, 0])
        XCTAssertEqual([grid.get(1, 4), grid.get(2, 4), grid.get(1, 5), grid.get(2, 5)].map(\.0), [255, 170, 85, 0])
        XCTAssertTrue(isWhite(grid.get(4, 4)), "the unused fourth slot stays background")
        let gray = grid.get(2, 1)
        XCTAssertTrue(gray.0 == gray.1 && gray.1 == gray.2, "activations are gray")

        let images = FeatureGrid.channelImages(maps)
        XCTAssertEqual(images, [[0, 85, 170, 255], [0, 0, 0, 0], [255, 170, 85, 0]])
    }

    func testFilterGridEnlargesEachFilter() {
        var g = SeededGenerator(seed: 1)
        let weight = Tensor.normal([6, 3, 3, 3], generator: &g)
        let canvas = FeatureGrid.filters(weight, scale: 4, border: 2)
        // 6 filters → 3 columns × 2 rows of 12×12 tiles.
        XCTAssertEqual([canvas.width, canvas.height], [3 * 14 + 2, 2 * 14 + 2])
        // Each filter pixel is a 4×4 block of one colour.
        XCTAssertTrue(canvas.get(2, 2) == canvas.get(5, 5))
        // Filters are normalised together: the global minimum is 0 and the maximum 255 in some channel.
        XCTAssertTrue(canvas.pixels.contains(0) && canvas.pixels.contains(255))
        let grayFilters = FeatureGrid.filters(Tensor.normal([2, 1, 5, 5], generator: &g))
        XCTAssertEqual([grayFilters.width, grayFilters.height], [2 * 42 + 2, 42 + 2])
    }
}

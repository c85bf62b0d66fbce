import Foundation

/// Line charts of training curves (loss, accuracy per epoch) rendered to a `Canvas`.
public enum Plot {
    public struct Series: Sendable {
        public var label: String
        public var values: [Double]
        public init(_ label: String, _ values: [Double]) { self.label = label; self.values = values }
    }

    static let palette: [Canvas.Color] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]

    /// Plots each series against x = 1, 2, … (or `xValues`), with axes, tick labels, a title and a legend.
    /// Non-finite values are skipped. `logX` plots x on a log10 scale (for learning-rate curves).
    public static func lineChart(title: String, series: [Series], xLabel: String = "epoch", xValues: [Double]? = nil,
                                 logX: Bool = false, width: Int = 640, height: Int = 400) -> Canvas {
        var canvas = Canvas(width: width, height: height)
        let left = 60, right = 16, top = 30, bottom = 40
        let plotW = width - left - right, plotH = height - top - bottom
        let count = series.map(\.values.count).max() ?? 0
        let xs: [Double] = (xValues ?? (0..<count).map { Double($0 + 1) }).map { logX ? log10(max($0, 1e-30)) : $0 }
        let finite = series.flatMap(\.values).filter(\.isFinite)
        var yMin = finite.min() ?? 0, yMax = finite.max() ?? 1
        if yMax - yMin < 1e-12 { yMin -= 0.5; yMax += 0.5 }
        let pad = (yMax - yMin) * 0.05
        yMin -= pad; yMax += pad
        var xMin = xs.min() ?? 0, xMax = xs.max() ?? 1
        if xMax - xMin < 1e-12 { xMin -= 0.5; xMax += 0.5 }

        func px(_ x: Double) -> Int { left + Int(((x - xMin) / (xMax - xMin) * Double(plotW - 1)).rounded()) }
        func py(_ y: Double) -> Int { top + plotH - 1 - Int(((y - yMin) / (yMax - yMin) * Double(plotH - 1)).rounded()) }

        let gray: Canvas.Color = (220, 220, 220), black: Canvas.Color = (0, 0, 0)
        for i in 0...4 {
            let y = yMin + (yMax - yMin) * Double(i) / 4
            canvas.line(left, py(y), left + plotW - 1, py(y), gray)
            let label = formatTick(y)
            canvas.text(label, x: left - 4 - Canvas.textWidth(label), y: py(y) - 3, black)
        }
        for i in 0...4 {
            let x = xMin + (xMax - xMin) * Double(i) / 4
            canvas.line(px(x), top, px(x), top + plotH - 1, gray)
            let label = logX ? formatTick(pow(10, x)) : formatTick(x)
            canvas.text(label, x: px(x) - Canvas.textWidth(label) / 2, y: top + plotH + 6, black)
        }
        canvas.rectangle(x: left, y: top, width: plotW, height: plotH, black)
        canvas.text(title, x: left, y: 10, black)
        canvas.text(xLabel, x: left + plotW / 2 - Canvas.textWidth(xLabel) / 2, y: height - 14, black)

        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            var previous: (Int, Int)?
            for (i, v) in s.values.enumerated() where i < xs.count {
                guard v.isFinite else { previous = nil; continue }
                let p = (px(xs[i]), py(v))
                if let q = previous { canvas.line(q.0, q.1, p.0, p.1, color, thickness: 2) }
                else { canvas.fill(x: p.0 - 1, y: p.1 - 1, width: 3, height: 3, color) }
                previous = p
            }
            let ly = top + 6 + 12 * k
            let lx = left + plotW - 8 - Canvas.textWidth(s.label) - 18
            canvas.fill(x: lx, y: ly + 2, width: 12, height: 3, color)
            canvas.text(s.label, x: lx + 16, y: ly, black)
        }
        return canvas
    }

    static func formatTick(_ v: Double) -> String {
        let a = abs(v)
        if a != 0 && (a < 1e-3 || a >= 1e5) { return String(format: "%.0e", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.2g", v).count > 5 ? String(format: "%.1f", v) : String(format: "%.3g", v) }
        return String(format: "%.3f", v)
    }

    /// A confusion-matrix heat map: cell (truth row, prediction column) shaded by its share of the row.
    public static func confusionMatrix(_ matrix: ConfusionMatrix, classNames: [String], cell: Int = 28) -> Canvas {
        let n = matrix.classes
        let labelWidth = min(14, classNames.map(\.count).max() ?? 2) * 6 + 8
        let size = labelWidth + n * cell + 10
        var canvas = Canvas(width: size, height: size + 20)
        canvas.text("TRUTH ROWS, PREDICTED COLUMNS", x: 4, y: 4, (0, 0, 0))
        let origin = (labelWidth, 20 + labelWidth)
        for t in 0..<n {
            let rowTotal = max(1, matrix.counts[t].reduce(0, +))
            let name = t < classNames.count ? String(classNames[t].prefix(14)) : String(t)
            canvas.text(name, x: 2, y: origin.1 + t * cell + cell / 2 - 3, (0, 0, 0))
            for p in 0..<n {
                let share = Double(matrix.counts[t][p]) / Double(rowTotal)
                let shade = UInt8(255 - Int(share * 215))
                let color: Canvas.Color = t == p ? (shade, 255 - (255 - shade) / 3, shade) : (255, shade, shade)
                canvas.fill(x: origin.0 + p * cell, y: origin.1 + t * cell, width: cell - 1, height: cell - 1, color)
                let label = String(matrix.counts[t][p])
                if Canvas.textWidth(label) < cell - 2 {
                    canvas.text(label, x: origin.0 + p * cell + (cell - Canvas.textWidth(label)) / 2, y: origin.1 + t * cell + cell / 2 - 3, (0, 0, 0))
                }
            }
        }
        for p in 0..<n {
            let name = p < classNames.count ? String(classNames[p].prefix(3)) : String(p)
            canvas.text(name, x: origin.0 + p * cell + 2, y: origin.1 - 10, (0, 0, 0))
        }
        return canvas
    }
}

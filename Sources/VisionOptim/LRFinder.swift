import Foundation

/// One mini-batch of a learning-rate range test.
public struct LRFinderPoint: Sendable, Equatable {
    public var learningRate: Float
    /// The raw mini-batch loss.
    public var loss: Float
    /// The bias-corrected exponential moving average of the loss.
    public var smoothedLoss: Float
}

/// The curve of a learning-rate range test and the rate it suggests.
public struct LRFinderResult: Sendable {
    /// Every recorded mini-batch in order of increasing learning rate, including the one that diverged.
    public var points: [LRFinderPoint]
    /// The learning rate where the smoothed loss falls fastest against log(lr), or nil when fewer
    /// than three points were recorded before divergence.
    public var suggestion: Float?
    /// Whether the test stopped because the loss diverged (rather than reaching `endLR`).
    public var diverged: Bool

    /// The learning rate at the lowest smoothed loss (a common upper bound: pick ~1/10 of it).
    public var minimumLossLearningRate: Float? {
        points.min { $0.smoothedLoss < $1.smoothedLoss }?.learningRate
    }
}

/// The learning-rate range test ("LR finder", Smith 2017; popularised by fastai).
///
/// The learning rate rises exponentially from `startLR` to `endLR` over `steps` mini-batches:
/// `lrᵢ = startLR·(endLR/startLR)^(i/(steps−1))`. For each, `step(lrᵢ)` must set that rate, train one
/// mini-batch and return its loss. The loss is smoothed as `aᵢ = β·aᵢ₋₁ + (1−β)·lossᵢ`,
/// `smoothedᵢ = aᵢ/(1 − β^(i+1))`. The test stops early when the loss is not finite or the smoothed
/// loss exceeds `divergeFactor ×` the best so far. The suggestion is the rate at the steepest descent:
/// the most negative central-difference slope of the smoothed loss against ln(lr) over the points
/// recorded before divergence.
///
/// The test trains the model: snapshot the parameters (and optimizer state) first and restore them
/// afterwards (`ParameterSnapshot`).
public func lrRangeTest(startLR: Float = 1e-7, endLR: Float = 10, steps: Int = 100, smoothing: Float = 0.98,
                        divergeFactor: Float = 4, step: (Float) throws -> Float) rethrows -> LRFinderResult {
    precondition(startLR > 0 && endLR > startLR, "lrRangeTest needs 0 < startLR < endLR, got \(startLR), \(endLR)")
    precondition(steps >= 2, "lrRangeTest needs at least 2 steps, got \(steps)")
    precondition(smoothing >= 0 && smoothing < 1, "smoothing must lie in [0, 1), got \(smoothing)")
    precondition(divergeFactor > 1, "divergeFactor must exceed 1, got \(divergeFactor)")
    let ratio = Double(endLR) / Double(startLR)
    let beta = Double(smoothing)
    var average = 0.0
    var best = Double.infinity
    var points: [LRFinderPoint] = []
    var diverged = false
    var divergingPointRecorded = false
    for i in 0..<steps {
        let rate = Float(Double(startLR) * Foundation.pow(ratio, Double(i) / Double(steps - 1)))
        let loss = try step(rate)
        guard loss.isFinite else {
            diverged = true
            break
        }
        average = beta * average + (1 - beta) * Double(loss)
        let smoothed = average / (1 - Foundation.pow(beta, Double(i + 1)))
        points.append(LRFinderPoint(learningRate: rate, loss: loss, smoothedLoss: Float(smoothed)))
        if i > 0 && smoothed > Double(divergeFactor) * best {
            diverged = true
            divergingPointRecorded = true
            break
        }
        best = Swift.min(best, smoothed)
    }
    let usable = divergingPointRecorded ? Array(points.dropLast()) : points
    return LRFinderResult(points: points, suggestion: steepestDescent(usable), diverged: diverged)
}

/// The learning rate with the most negative central-difference slope d(smoothed loss)/d ln(lr).
func steepestDescent(_ points: [LRFinderPoint]) -> Float? {
    guard points.count >= 3 else { return nil }
    var bestSlope = Double.infinity
    var bestIndex = -1
    for i in 1..<(points.count - 1) {
        let run = Foundation.log(Double(points[i + 1].learningRate)) - Foundation.log(Double(points[i - 1].learningRate))
        guard run > 0 else { continue }
        let slope = (Double(points[i + 1].smoothedLoss) - Double(points[i - 1].smoothedLoss)) / run
        if slope < bestSlope {
            bestSlope = slope
            bestIndex = i
        }
    }
    // A loss that never falls (a flat curve, or one rising throughout) suggests nothing.
    return bestIndex >= 0 && bestSlope < 0 ? points[bestIndex].learningRate : nil
}

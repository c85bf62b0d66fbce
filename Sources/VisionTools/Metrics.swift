import VisionCore

/// Counts of (true class, predicted class) pairs, with the metrics derived from them.
///
/// Works for classification (one pair per image) and segmentation (one pair per pixel).
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// `counts[truth][prediction]`.
    public private(set) var counts: [[Int]]

    public init(classes: Int) {
        precondition(classes > 0, "a confusion matrix needs at least one class")
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }

    /// Adds pairs; targets equal to `ignoreIndex` are skipped.
    public mutating func add(predictions: [Int], targets: [Int], ignoreIndex: Int? = nil) {
        precondition(predictions.count == targets.count, "\(predictions.count) predictions for \(targets.count) targets")
        for (p, t) in zip(predictions, targets) where t != ignoreIndex {
            precondition(t >= 0 && t < classes && p >= 0 && p < classes, "class index out of range 0..<\(classes): \(t), \(p)")
            counts[t][p] += 1
        }
    }

    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.classes == classes, "cannot merge \(other.classes)-class counts into \(classes)")
        for t in 0..<classes { for p in 0..<classes { counts[t][p] += other.counts[t][p] } }
    }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { (0..<classes).reduce(0) { $0 + counts[$1][$1] } }

    /// Fraction of correct predictions (pixel accuracy for segmentation).
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    /// Recall of each class (correct / true instances); nil for a class with no instances.
    public var perClassAccuracy: [Double?] {
        (0..<classes).map { c in
            let n = counts[c].reduce(0, +)
            return n == 0 ? nil : Double(counts[c][c]) / Double(n)
        }
    }

    /// Intersection over union of each class; nil when the class is absent from both truth and prediction.
    public var intersectionOverUnion: [Double?] {
        (0..<classes).map { c in
            let tp = counts[c][c]
            let fn = counts[c].reduce(0, +) - tp
            let fp = (0..<classes).reduce(0) { $0 + counts[$1][c] } - tp
            let union = tp + fn + fp
            return union == 0 ? nil : Double(tp) / Double(union)
        }
    }

    /// Dice coefficient (F1) of each class: 2·TP / (2·TP + FP + FN).
    public var dice: [Double?] {
        (0..<classes).map { c in
            let tp = counts[c][c]
            let fn = counts[c].reduce(0, +) - tp
            let fp = (0..<classes).reduce(0) { $0 + counts[$1][c] } - tp
            let denominator = 2 * tp + fn + fp
            return denominator == 0 ? nil : 2 * Double(tp) / Double(denominator)
        }
    }

    /// Mean over the classes that are defined.
    public static func mean(_ values: [Double?]) -> Double {
        let defined = values.compactMap { $0 }
        return defined.isEmpty ? 0 : defined.reduce(0, +) / Double(defined.count)
    }

    public var meanIoU: Double { ConfusionMatrix.mean(intersectionOverUnion) }
    public var meanDice: Double { ConfusionMatrix.mean(dice) }
}

public enum Metrics {
    /// Predicted class per row of `[N, C]` logits, or per pixel of `[N, C, H, W]` logits (row-major N, H, W).
    public static func predictions(_ logits: Tensor) -> [Int] {
        precondition(logits.rank == 2 || logits.rank == 4, "predictions expects [N, C] or [N, C, H, W], got \(logits.shape)")
        return logits.argmax(axis: 1)
    }

    /// Number of rows whose target is among the `k` largest logits.
    public static func topKCorrect(_ logits: Tensor, targets: [Int], k: Int) -> Int {
        precondition(logits.rank == 2 && logits.shape[0] == targets.count, "topK expects [N, C] logits for \(targets.count) targets, got \(logits.shape)")
        let c = logits.shape[1]
        var correct = 0
        logits.withUnsafeBufferPointer { x in
            for (row, t) in targets.enumerated() {
                let target = x[row * c + t]
                // Rank = how many classes score strictly higher (ties count in the target's favour).
                var higher = 0
                for j in 0..<c where x[row * c + j] > target { higher += 1 }
                if higher < k { correct += 1 }
            }
        }
        return correct
    }
}

import Foundation
import VisionCore
import VisionData
import VisionNN

/// Loss and confusion counts of a model over a dataset.
public struct EvaluationResult: Sendable {
    public var task: Task
    public var count: Int
    public var meanLoss: Double
    public var confusion: ConfusionMatrix
    /// Classification with at least five classes: images whose target is among the top five.
    public var top5Correct: Int?

    public var accuracy: Double { confusion.accuracy }
    public var top5Accuracy: Double? { top5Correct.map { Double($0) / Double(max(count, 1)) } }
}

public enum Evaluator {
    /// Runs `model` in eval mode without gradients over every batch of `loader`. With `flipTTA`, each image is
    /// also scored mirrored left–right (a segmentation map mirrored back) and the two softmax distributions are
    /// averaged: predictions take the mean's arg-max and the loss is `−log` of its target probability.
    public static func evaluate(_ model: Module, loader: DataLoader, task: Task, classes: Int, flipTTA: Bool = false,
                                progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationResult {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var confusion = ConfusionMatrix(classes: classes)
        var lossSum = 0.0, samples = 0, top5 = 0
        var lossWeight = 0.0  // images (classification), labelled pixels (segmentation: the mean over every labelled pixel)
        let iterator = loader.epoch(0)
        defer { iterator.close() }
        var index = 0
        // Segmentation masks may mark unlabelled pixels (value 255 in class-index masks); images are scored
        // whole, at their own size, so each is first checked against the memory a forward pass may take.
        let ignored = task == .segmentation ? LabelMask.ignored : nil
        var memory: ForwardMemory?
        while let batch = try iterator.next() {
            if task == .segmentation {
                if memory == nil { memory = try ForwardMemory(model, channels: batch.images.shape[1]) }
                let first = batch.indices.first ?? 0
                try memory?.check(height: batch.images.shape[2], width: batch.images.shape[3], images: batch.count,
                                  source: loader.dataset.sourcePath(at: first) ?? "image \(first) of the \(loader.dataset.count) scored")
            }
            let logits = Autograd.noGrad { flipTTA ? flipAveraged(model, batch.images, task: task) : model(batch.images) }
            let targets = task == .segmentation ? (batch.masks ?? []) : batch.labels
            let loss = Autograd.noGrad { crossEntropy(logits, targets: targets, ignoreIndex: ignored) }
            let weight = Double(task == .segmentation ? targets.reduce(0) { $0 + ($1 == LabelMask.ignored ? 0 : 1) } : batch.count)
            lossSum += Double(loss.item) * weight
            lossWeight += weight
            samples += batch.count
            confusion.add(predictions: Metrics.predictions(logits), targets: targets, ignoreIndex: ignored)
            if task == .classification && classes >= 5 {
                top5 += Metrics.topKCorrect(logits, targets: targets, k: 5)
            }
            index += 1
            progress?(index, loader.batchCount)
        }
        return EvaluationResult(task: task, count: samples, meanLoss: lossWeight == 0 ? 0 : lossSum / lossWeight,
                                confusion: confusion, top5Correct: task == .classification && classes >= 5 ? top5 : nil)
    }

    /// The log of the mean of the softmax over `images` and over their mirror images (segmentation outputs mirrored
    /// back): log-probabilities, so they are their own log-softmax and serve wherever logits do.
    public static func flipAveraged(_ model: Module, _ images: Tensor, task: Task) -> Tensor {
        let direct = model(images)
        let mirrored = model(images.flip(axes: [-1]))
        return averagedSoftmax(direct, task == .segmentation ? mirrored.flip(axes: [-1]) : mirrored)
    }

    /// `log((softmax(a) + softmax(b)) / 2)` over axis 1: two predictions' mean distribution as log-probabilities,
    /// computed as `logaddexp(logSoftmax(a), logSoftmax(b)) − log 2`, so no probability underflows to a log of 0.
    /// A constant (no gradient).
    public static func averagedSoftmax(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "averagedSoftmax: \(a.shape) and \(b.shape) differ")
        let (la, lb) = Autograd.noGrad { (a.logSoftmax(axis: 1).storage, b.logSoftmax(axis: 1).storage) }
        let half = Foundation.log(Float(2))
        // Equal values (−∞ included, where x − y would be NaN): log((e^x + e^x)/2) = x.
        return Tensor(zip(la, lb).map { x, y in x == y ? x : Swift.max(x, y) + Foundation.log1p(Foundation.exp(-Swift.abs(x - y))) - half },
                      shape: a.shape)
    }
}

import VisionCore

/// A view of another dataset through a list of indices (torch's `Subset`).
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    public init(_ base: any Dataset, indices: [Int]) {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < base.count },
                     "Subset: indices must lie in 0..<\(base.count)")
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public var classNames: [String] { base.classNames }

    public func sample(at index: Int) throws -> Sample {
        precondition(index >= 0 && index < indices.count, "Subset index \(index) out of range 0..<\(indices.count)")
        return try base.sample(at: indices[index])
    }

    public func sourcePath(at index: Int) -> String? {
        indices.indices.contains(index) ? base.sourcePath(at: indices[index]) : nil
    }
}

/// Splits a dataset into disjoint random subsets of the given sizes (which must sum to its count).
/// The permutation is a Fisher–Yates shuffle driven by `SeededGenerator(seed:)`, so a seed always
/// gives the same split.
public func randomSplit(_ dataset: any Dataset, counts: [Int], seed: UInt64) -> [Subset] {
    precondition(counts.allSatisfy { $0 >= 0 } && counts.reduce(0, +) == dataset.count,
                 "randomSplit: counts \(counts) must be non-negative and sum to the dataset size \(dataset.count)")
    var generator = SeededGenerator(seed: seed)
    let order = shuffledIndices(dataset.count, generator: &generator)
    var subsets = [Subset]()
    var start = 0
    for size in counts {
        subsets.append(Subset(dataset, indices: Array(order[start..<(start + size)])))
        start += size
    }
    return subsets
}

/// Splits by fractions summing to 1 (as `torch.utils.data.random_split`): each part gets
/// `⌊fraction · count⌋` and the remainder is handed out one at a time from the first part on.
public func randomSplit(_ dataset: any Dataset, fractions: [Double], seed: UInt64) -> [Subset] {
    precondition(!fractions.isEmpty && fractions.allSatisfy { $0 >= 0 } && abs(fractions.reduce(0, +) - 1) < 1e-6,
                 "randomSplit: fractions \(fractions) must be non-negative and sum to 1")
    var counts = fractions.map { Int((Double(dataset.count) * $0).rounded(.down)) }
    var remainder = dataset.count - counts.reduce(0, +)
    var part = 0
    while remainder > 0 {
        counts[part % counts.count] += 1
        remainder -= 1
        part += 1
    }
    return randomSplit(dataset, counts: counts, seed: seed)
}

/// A uniform permutation of `0..<count` (Fisher–Yates from the back).
public func shuffledIndices(_ count: Int, generator: inout SeededGenerator) -> [Int] {
    var order = Array(0..<count)
    if count > 1 {
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, generator.nextInt(i + 1)) }
    }
    return order
}

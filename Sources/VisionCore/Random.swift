/// A small, fast, seedable generator (xoshiro256** seeded through SplitMix64).
///
/// One `--seed` drives weight init, shuffling, augmentation and dropout; `split` derives
/// independent streams (for example one per sample) so results do not depend on thread count.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareNormal: Float?

    public init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
    }

    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal sample (Box–Muller, computed in Double).
    public mutating func nextNormal() -> Float {
        if let spare = spareNormal { spareNormal = nil; return spare }
        var u1 = nextDouble()
        while u1 <= .leastNormalMagnitude { u1 = nextDouble() }
        let u2 = nextDouble()
        let radius = (-2 * _log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spareNormal = Float(radius * _sin(angle))
        return Float(radius * _cos(angle))
    }

    /// An integer in `0..<upperBound`.
    public mutating func nextInt(_ upperBound: Int) -> Int {
        precondition(upperBound > 0, "nextInt needs a positive bound")
        return Int(next(upperBound: UInt64(upperBound)))
    }

    /// A Gamma(shape, 1) sample, by Marsaglia and Tsang's squeeze method (shape < 1 through
    /// Gamma(shape + 1)·U^(1/shape)).
    public mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0 && shape.isFinite, "nextGamma needs a positive shape, got \(shape)")
        if shape < 1 {
            var u = nextDouble()
            while u <= .leastNormalMagnitude { u = nextDouble() }
            return nextGamma(shape: shape + 1) * Foundation.pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = Double(nextNormal())
            let v = 1 + c * x
            guard v > 0 else { continue }
            let v3 = v * v * v
            let u = nextDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v3 }
            if u > 0, _log(u) < 0.5 * x * x + d * (1 - v3 + _log(v3)) { return d * v3 }
        }
    }

    /// A Beta(a, b) sample in [0, 1], the first component of `nextDirichlet([a, b])`.
    public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
        nextDirichlet([a, b])[0]
    }

    /// A Dirichlet(α₁, …, αₖ) sample, as independent `Gamma(αᵢ)` values over their sum. When every one
    /// underflows to 0 (tiny shapes), the distribution's limit is used: all mass on one component, component `i`
    /// with probability `αᵢ / Σα`.
    public mutating func nextDirichlet(_ alphas: [Double]) -> [Double] {
        let gammas = alphas.map { nextGamma(shape: $0) }
        let total = gammas.reduce(0, +)
        if total > 0 { return gammas.map { $0 / total } }
        var u = nextDouble() * alphas.reduce(0, +)
        let winner = alphas.firstIndex { u -= $0; return u < 0 } ?? alphas.count - 1
        return alphas.indices.map { $0 == winner ? 1 : 0 }
    }

    /// An independent generator derived from this one's seed stream and a key (e.g. sample index).
    public func split(_ key: UInt64) -> SeededGenerator {
        var copy = self
        let mixed = copy.next() ^ (key &* 0xD1B5_4A32_D192_ED03)
        return SeededGenerator(seed: mixed)
    }
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }

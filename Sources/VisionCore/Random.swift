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

import TestSupport
import VisionCore
import XCTest

/// Group normalisation against PyTorch 2.15 (`F.group_norm`, float64) and finite differences.
final class GroupNormTests: XCTestCase {
    /// `x[i] = ((37·i) mod 48 − 24) / 9 + 0.3·((i mod 5) − 2)` shaped [2, 4, 2, 3], weight [0.5, −1.25, 2, 0.75],
    /// bias [0.1, 0.2, −0.3, 0.4], upstream gradient `sin(0.37·i)`, eps 1e-5: outputs and the gradients of
    /// input, weight and bias for 2, 1 and 4 groups (4 = instance normalisation) and without affine parameters.
    func testMatchesPyTorch() {
        let cases: [GroupNormCase] = [
            GroupNormCase(groups: 2, affine: true,
                          y: [-0.9216145, 0.515342, 0.2149203, -0.08550131, -0.3859229, 0.5623959, -0.2049358, 0.5461183, 1.297172, -2.295219, -0.3225708, 0.4284833, -1.766486, -2.804596, 2.16082, -0.5657811, -1.603891, -2.642001, 1.383781, 0.9944898, -0.02798576, -0.4172769, 1.444754, 1.055463, 0.3069335, -0.4576682, -0.7487781, 0.6436389, 0.352529, 0.06141918, 2.207956, -1.273086, -0.5453113, 0.1824633, 0.9102379, -1.387075, 1.444472, 0.0001710138, -1.44413, -2.888431, 1.670688, 0.2263869, 0.05578215, -0.4858308, 2.104776, 0.682226, 0.1406131, -0.4009998],
                          dx: [-0.03565666, -0.0177729, 0.1049719, 0.1979875, 0.2515118, 0.1742995, -0.7666745, -0.5238453, -0.2232534, -0.02356003, 0.3102698, 0.5517223, -0.7686959, -0.7215288, -1.004531, -0.5342335, -0.09748056, 0.3933963, 0.1425636, 0.3572998, 0.6687312, 0.7933119, 0.3791644, 0.3920027, 0.06901593, -0.1243213, -0.2726713, -0.226364, -0.3435435, -0.4263423, 0.5784639, 0.6497481, 0.4396509, 0.1586159, -0.1596818, -0.3425707, 0.6214971, 0.9470757, 1.08153, 1.00465, 0.7866426, 0.3397377, -0.3794095, -0.61031, -0.739256, -0.935365, -1.042999, -1.073793],
                          dWeight: [-0.5203001, 0.1212789, 1.001049, 1.47254], dBias: [2.081615, -2.525818, 0.9723625, 1.35013]),
            GroupNormCase(groups: 1, affine: true,
                          y: [-0.859112, 0.4687606, 0.1911449, -0.08647076, -0.3640864, 0.5122425, -0.1365672, 0.557472, 1.251511, -2.06817, -0.2452721, 0.4487671, -1.80849, -2.918953, 2.392537, -0.5240994, -1.634562, -2.745025, 1.474925, 1.058501, -0.03523781, -0.4516613, 1.540147, 1.123724, 0.3321612, -0.509604, -0.8300926, 0.7028467, 0.3823582, 0.06186958, 2.399739, -1.432609, -0.6313879, 0.1698335, 0.971055, -1.558102, 1.231009, -0.05094562, -1.3329, -2.614854, 1.431797, 0.1498424, 0.08795804, -0.3927748, 1.906634, 0.6439864, 0.1632535, -0.3174793],
                          dx: [0.2521507, 0.09010886, 0.2408686, 0.3641559, 0.4509499, 0.2617531, -0.5704557, -0.3087276, 0.006378283, 0.0123443, 0.418887, 0.679343, -1.026302, -1.008329, -1.155695, -0.7379301, -0.3032179, 0.1893905, 0.07643643, 0.2736581, 0.5214837, 0.6222663, 0.334615, 0.3158671, -0.07241242, -0.2642972, -0.4196369, -0.4068338, -0.5278574, -0.6110306, 0.5161445, 0.5564451, 0.3331267, 0.03171141, -0.3107271, -0.5372684, 0.7116258, 0.9863107, 1.091355, 1.008819, 0.8604474, 0.4494798, -0.2031286, -0.4223718, -0.468439, -0.6800556, -0.7898884, -0.8315177],
                          dWeight: [-0.7133875, 0.199679, 0.9424817, 1.741678], dBias: [2.081615, -2.525818, 0.9723625, 1.35013]),
            GroupNormCase(groups: 4, affine: true,
                          y: [-0.7675171, 0.6101001, 0.3220844, 0.0340687, -0.253947, 0.655211, 0.07377419, 0.9119136, 1.750053, -2.258879, -0.05750065, 0.7806387, -0.9720021, -2.211473, 3.717079, 0.4616024, -0.7778682, -2.017339, 1.083517, 0.6709212, -0.4127637, -0.8253593, 1.14814, 0.7355446, 0.3901772, -0.4005556, -0.7016144, 0.7383897, 0.4373309, 0.1362721, 2.368793, -1.07525, -0.355211, 0.3648283, 1.084867, -1.188027, 1.722976, -0.09223489, -1.907446, -3.722657, 2.007286, 0.1920753, 0.1479992, -0.3168023, 1.906405, 0.6856009, 0.2207994, -0.2440021],
                          dx: [-0.119983, -0.1379485, -0.01293189, 0.08358312, 0.1422377, 0.04504255, -0.7348287, -0.431536, -0.06378312, 0.004535405, 0.461928, 0.7636843, -0.4800898, -0.6195772, -0.02092002, 0.02632219, 0.3519883, 0.7422766, -0.1371765, -0.02699654, -0.005302853, 0.009324494, 0.1319779, 0.02817355, 0.2946255, 0.1082958, -0.03994049, -0.0168449, -0.1328455, -0.2132903, 0.2298539, 0.4974561, 0.2483897, -0.07086038, -0.4269772, -0.4778622, -0.03597206, 0.2077386, 0.2112426, -0.050861, 0.1975028, -0.529651, 0.3602146, 0.1656952, 0.03765038, -0.1210995, -0.2098345, -0.2326261],
                          dWeight: [0.05365653, 0.4274082, -1.312496, -0.8850579], dBias: [2.081615, -2.525818, 0.9723625, 1.35013]),
            GroupNormCase(groups: 2, affine: false,
                          y: [-2.043229, 0.8306839, 0.2298406, -0.3710026, -0.9718459, 0.9247919, 0.3239486, -0.2768946, -0.8777379, 1.996175, 0.4180566, -0.1827867, -0.7332432, -1.252298, 1.23041, -0.1328906, -0.6519454, -1.171, 1.311708, 0.7926531, -0.5706477, -1.089703, 1.393006, 0.8739508, 0.413867, -1.115336, -1.697556, 1.087278, 0.505058, -0.07716164, -1.606365, 1.178469, 0.5962491, 0.01402939, -0.5681903, 1.26966, 0.8722361, 0.1500855, -0.572065, -1.294216, 0.985344, 0.2631934, -0.4589571, -1.181108, 2.273034, 0.3763013, -0.3458492, -1.068],
                          dx: [-0.2601962, 0.04567999, 0.2346985, 0.3642586, 0.4148361, 0.4386697, 0.3166657, 0.1244208, -0.1140342, -0.2834436, -0.5452059, -0.7363494, -0.4907596, -0.4450928, -0.6922214, -0.3990706, -0.1586108, 0.108911, 0.00730424, 0.246277, 0.537174, 0.6559393, 0.3301871, 0.2999626, 0.5531355, 0.3398803, 0.1092071, -0.1139924, -0.2823249, -0.3818959, -0.3964562, -0.3376967, -0.1938263, 0.006794398, 0.2372252, 0.4599498, 0.4463821, 0.6097952, 0.6776462, 0.6398299, 0.5288571, 0.3060285, 0.02889553, -0.2659551, -0.5001442, -0.7274341, -0.8579299, -0.8859713],
                          dWeight: [], dBias: []),
        ]
        for c in cases {
            let x = Tensor(normalizationTestValues, shape: [2, 4, 2, 3], requiresGrad: true)
            let weight = Tensor([0.5, -1.25, 2, 0.75], shape: [4], requiresGrad: true)
            let bias = Tensor([0.1, 0.2, -0.3, 0.4], shape: [4], requiresGrad: true)
            let y = groupNorm(x, groups: c.groups, weight: c.affine ? weight : nil, bias: c.affine ? bias : nil)
            assertNormalization(y, equals: c.y, x: x, dx: c.dx, weight: weight, dWeight: c.dWeight, bias: bias, dBias: c.dBias,
                                affine: c.affine, "\(c.groups) groups, affine \(c.affine)")
        }
    }

    /// eps sits under the square root: a group of ±0.001 (variance 1e-6) with eps 1e-5 scales by
    /// 1/√(1.1e-5), giving ±0.3015 — not ±0.990 (eps beside the root) nor ±1 (no eps).
    func testEpsIsAddedToTheVariance() {
        let x = Tensor([1.001, 0.999, 1.001, 0.999], shape: [1, 1, 2, 2])
        let y = groupNorm(x, groups: 1)
        let expected = Float(0.001 / (1.1e-5).squareRoot())
        assertClose(y.storage, [expected, -expected, expected, -expected], rtol: 1e-3, atol: 0)
    }

    func testGradients() {
        var g = SeededGenerator(seed: 7)
        let x = Tensor.normal([2, 6, 3, 5], generator: &g)
        let weight = Tensor.normal([6], generator: &g), bias = Tensor.normal([6], generator: &g)
        checkGradients([x, weight, bias]) { groupNorm($0[0], groups: 3, weight: $0[1], bias: $0[2]) }
        checkGradients([x]) { groupNorm($0[0], groups: 6) }
        // Planes of 20 pixels take the vectorised row loops (16 at a time) and their tails.
        let wide = Tensor.normal([2, 4, 4, 5], generator: &g)
        checkGradients([wide, Tensor.normal([4], generator: &g), Tensor.normal([4], generator: &g)]) {
            groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2])
        }
        // [N, C] input: each group is C / groups values of one sample.
        let flat = Tensor.normal([3, 8], generator: &g)
        checkGradients([flat]) { groupNorm($0[0], groups: 2) }
    }

    /// The statistics are per sample: a sample's output does not depend on the others, and a batch
    /// large enough to be split over the cores (320 planes and 160 groups, more than one grain of 128
    /// each) gives each sample's own result.
    func testSamplesAreNormalisedIndependently() {
        var g = SeededGenerator(seed: 8)
        let batch = Tensor.normal([40, 8, 16, 16], generator: &g)
        let whole = groupNorm(batch, groups: 4)
        let planeSize = 8 * 16 * 16
        for n in [0, 20, 39] {
            let one = Tensor(Array(batch.storage[(n * planeSize)..<((n + 1) * planeSize)]), shape: [1, 8, 16, 16])
            assertClose(Array(whole.storage[(n * planeSize)..<((n + 1) * planeSize)]), groupNorm(one, groups: 4).storage,
                        rtol: 1e-5, atol: 1e-5, "sample \(n)")
        }
        // Each group of the result has mean 0 and variance 1 (up to eps).
        let group = Array(whole.storage[0..<(2 * 16 * 16)])
        let mean = group.reduce(0, +) / Float(group.count)
        let variance = group.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(group.count)
        XCTAssertEqual(mean, 0, accuracy: 1e-5)
        XCTAssertEqual(variance, 1, accuracy: 1e-3)
    }
}

/// One golden group-norm case.
private struct GroupNormCase {
    let groups: Int
    let affine: Bool
    let y: [Float], dx: [Float], dWeight: [Float], dBias: [Float]
}

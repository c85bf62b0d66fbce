// The instruction sets of the packed convolution kernels and the knobs that choose between the convolution
// paths (packed kernels, Winograd, im2col + OpenBLAS).
import CKernels

/// The vector instruction sets of the packed convolution kernels (`CKernels`).
public enum PackedKernelInstructionSet: Int, Comparable, Sendable, CustomStringConvertible {
    /// AVX2 with FMA: 4 × 24 register tiles (AMD Zen 2/3, Intel cores before Ice Lake).
    case avx2 = 1
    /// AVX-512 F/BW/DQ/VL: 8 × 48 register tiles; products of few rows read stride-1 windows
    /// straight from the images.
    case avx512 = 2

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String { self == .avx2 ? "AVX2" : "AVX-512" }
}

/// Tuning knobs of the convolution kernels.
public enum ConvolutionTuning {
    /// Whether forward convolutions use the packed kernels (see `PackedGEMM`) rather than
    /// im2col + OpenBLAS. On by default where the CPU supports them (`VISION_GEMM=blas` turns them
    /// off); setting it on elsewhere is ignored.
    public static var usesPackedKernel: Bool {
        get { PackedGEMM.enabled }
        set { PackedGEMM.enabled = newValue && PackedGEMM.instructionSet != nil }
    }

    /// The instruction set this CPU runs the packed kernels with: AVX-512, else AVX2 with FMA, else nil.
    public static var supportedPackedKernelInstructionSet: PackedKernelInstructionSet? { PackedGEMM.supportedInstructionSet }

    /// The instruction set the packed kernels run with: the supported one unless lowered, e.g. to
    /// `.avx2` on an AVX-512 machine (`VISION_GEMM=avx2` at start-up), for tests and comparisons.
    /// A value above the supported one selects the supported one; nil also turns the packed kernels off
    /// (`usesPackedKernel` stays false until set again, after an instruction set is). Direct panels
    /// (`directPanelMaximumRows`) are AVX-512 only: the AVX2 kernel always packs.
    public static var packedKernelInstructionSet: PackedKernelInstructionSet? {
        get { PackedGEMM.instructionSet }
        set { PackedGEMM.instructionSet = newValue }
    }

    /// Whether the packed kernels read strided windows (and others whose output rows are narrower than
    /// the input) with gathers rather than element by element. On by default.
    nonisolated(unsafe) public static var gatherPacking = true {
        didSet { ck_set_gather_packing(gatherPacking ? 1 : 0) }
    }

    /// Up to how many output channels (rows of the product) the packed kernel reads stride-1 windows
    /// straight from the images rather than packing them first (`ck_set_direct_max_rows`; 0 never).
    nonisolated(unsafe) public static var directPanelMaximumRows = 64 {
        didSet { ck_set_direct_max_rows(directPanelMaximumRows) }
    }

    /// Where the packed kernel is on, 3×3 stride-1 weight gradients read the images directly
    /// (`ck_weight_gradient_3x3`) from this output plane (pixels) on: 100. Below it each image adds too few
    /// products per reduction (`vision-bench conv`: 256 channels at 8×8 and 512 at 4×4 slower).
    nonisolated(unsafe) public static var packedWeightGradientMinimumPlane = 100

    /// The most input or output channels (per group) for which they do: 64 (0 never). `vision-bench models`,
    /// alternating runs: ResNet-20 (16–64 channels) training 1.2–1.3× faster with them. With 128 channels
    /// and more OpenBLAS's products (or Winograd's, where it applies) are faster. 64 channels at 32²:
    /// `vision-bench conv --channels 64 --weight-gradient-channels 32|64`, three alternating pairs,
    /// forward + backward 148.5/143.0/157.6 → 152.9/156.7/162.3 GFLOP/s; ResNet-18 training (`--versus`) 1.02×.
    nonisolated(unsafe) public static var packedWeightGradientMaximumChannels = 64

    /// The largest output plane (pixels) for which 3×3 stride-1 convolutions on the packed kernel run
    /// as Winograd F(2×2, 3×3) (see `Winograd`); 0 never. 256 (16×16), as measured with `vision-bench
    /// conv --winograd-plane P` in alternating runs: 512 channels at 4×4 forward 1.2×; 256 channels at
    /// 8×8 forward 1.1×, forward + backward 1.15× (with the vectorised tile transforms; the scalar ones
    /// cost what the products saved); 128 channels at 16×16, five rounds, forward median 184 → 204,
    /// forward + backward 157 → 188 GFLOP/s (with the products run whole per thread). Those are AVX-512
    /// figures; where the kernels start as AVX2 (the CPU's best, or `VISION_GEMM=avx2`) the default is
    /// 65,536 (256×256), with 64 channels and more
    /// (`winogradMinimumChannels`): on an AMD EPYC Zen 3, U-Net (base 32) training 1.8 → 1.9–2.0 img/s
    /// against a plane of 4,096, two alternating pairs; ResNet-18 training (`--versus`) 1.13× against
    /// the AVX-512 thresholds, 64 channels at 32² forward / forward + backward 146 / 128 → 183 / 175 GFLOP/s.
    nonisolated(unsafe) public static var winogradMaximumPlane = PackedGEMM.instructionSet == .avx2 ? 1 << 16 : 256

    /// Whether the weight gradients of the convolutions that run forward as Winograd F(2×2, 3×3) do too
    /// (over the same tiles, `Winograd.weightGradient`) rather than by im2col + OpenBLAS.
    nonisolated(unsafe) public static var winogradWeightGradient = true

    /// The fewest input and output channels (per group) for which they do. 128: with 64 channels at 8×8
    /// (ResNet-20's last stage) the transforms cost more than the products save — `vision-bench models
    /// --only resnet20 --winograd-plane 16|64`, three alternating pairs: 361/384/392 vs 337/344/371 img/s
    /// per CPU second. Where the kernels start as AVX2, 64: there ResNet-20 trains as fast with 64-channel
    /// Winograd as without (`--versus "--winograd-channels 64"` 1.005), and 32 or 16 channels are slower
    /// (0.93, 0.80 of the speed).
    nonisolated(unsafe) public static var winogradMinimumChannels = PackedGEMM.instructionSet == .avx2 ? 64 : 128

    /// The largest im2col column buffer, in floats, that one convolution call allocates
    /// (default 2²¹ floats = 8 MiB, which stays in cache).
    ///
    /// A batch is processed in chunks of output rows whose column matrix fits this limit: several
    /// whole images per chunk when they fit (the batch folded into the GEMM's N dimension), else
    /// bands of rows of one image. Results do not depend on it beyond float rounding.
    public static var columnBufferLimit: Int {
        get { ConvolutionEngine.columnBudget }
        set {
            precondition(newValue > 0, "column buffer limit must be positive, got \(newValue)")
            ConvolutionEngine.columnBudget = newValue
        }
    }
}

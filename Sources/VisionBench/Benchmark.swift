import Dispatch
import Foundation
import VisionCore
import VisionNN

/// One named benchmark: prints its own figures, one line per case.
struct Benchmark {
    let name: String
    let summary: String
    /// Whether `all` runs it (diagnostic breakdowns are only run by name).
    var inAll = true
    let run: (BenchmarkOptions) -> Void

    /// Every benchmark, in the order `all` runs them. Add new ones here.
    static let registry: [Benchmark] = [
        Benchmark(name: "sgemm", summary: "1024³ sgemm GFLOP/s and the OpenBLAS kernel family", run: runSgemmBenchmark),
        Benchmark(name: "conv", summary: "3×3 conv layers of torch_baseline.py: forward and forward+backward GFLOP/s",
                  run: runConvolutionBenchmark),
        Benchmark(name: "conv-parts", summary: "diagnostic: im2col and bare GEMM rates at the conv layers' shapes",
                  inAll: false, run: runConvolutionBreakdown),
        Benchmark(name: "models", summary: "ResNet-18 / VGG-16-BN / ResNet-20 training and inference, U-Net training and 512² inference (img/s)",
                  run: runModelBenchmark),
        Benchmark(name: "data", summary: "CIFAR-10 JPEG decode + crop + flip + normalise through the DataLoader, 1 and 2 workers (--root DIR; --augment P1,P2 for `vision train` presets)",
                  run: runDataBenchmark),
    ]
}

/// `--key value` options after the benchmark name.
struct BenchmarkOptions {
    private var values: [String: String] = [:]

    init(_ arguments: [String]) {
        var index = 0
        while index < arguments.count {
            let key = arguments[index]
            if key.hasPrefix("--"), index + 1 < arguments.count {
                values[String(key.dropFirst(2))] = arguments[index + 1]
                index += 2
            } else {
                index += 1
            }
        }
    }

    func double(_ key: String, default fallback: Double) -> Double { values[key].flatMap(Double.init) ?? fallback }
    func int(_ key: String) -> Int? { values[key].flatMap { Int($0) } }
    func string(_ key: String) -> String? { values[key] }

    /// Minimum timed seconds per case (`--seconds`).
    var seconds: Double { double("seconds", default: 1.5) }
}

/// Seconds per call of a timed loop: the median, the fastest call (the least disturbed on a shared
/// machine), and the process CPU time per call divided by the core count (what the wall time would be
/// if the process had every core to itself; spin-waiting still counts).
struct Timing {
    var median: Double
    var best: Double
    var cpu: Double
}

/// CPU seconds used by all threads of this process so far.
func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Wall-clock timing: `warmUp` untimed calls, then at least `minIterations` timed calls and at
/// least `minSeconds` in total.
func measure(warmUp: Int = 2, minIterations: Int = 5, minSeconds: Double = 1.5, _ body: () -> Void) -> Timing {
    for _ in 0..<warmUp { body() }
    var times: [Double] = []
    var total = 0.0
    let cpuStart = processCPUSeconds()
    while times.count < minIterations || total < minSeconds {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        times.append(seconds)
        total += seconds
    }
    let cpu = (processCPUSeconds() - cpuStart) / Double(times.count * max(1, ProcessInfo.processInfo.activeProcessorCount))
    times.sort()
    return Timing(median: times[times.count / 2], best: times[0], cpu: cpu)
}

/// A fixed-width figure line: `name  rate unit  (best …, per CPU time …)  note`, where `rate = work / seconds`.
func report(_ name: String, work: Double, _ timing: Timing, _ unit: String, note: String = "") {
    let padded = name.padding(toLength: max(name.count, 34), withPad: " ", startingAt: 0)
    let median = String(format: "%8.1f", work / timing.median), best = String(format: "%.1f", work / timing.best)
    let cpu = String(format: "%.1f", work / timing.cpu)
    print("\(padded) \(median) \(unit)  (best \(best), per CPU time \(cpu))\(note.isEmpty ? "" : "  \(note)")")
}

/// The convolution tuning knobs as `vision-bench` options set them (`--winograd-plane` and friends);
/// unset options keep the library's values.
struct Tuning {
    var winogradMaximumPlane = ConvolutionTuning.winogradMaximumPlane
    var winogradMinimumChannels = ConvolutionTuning.winogradMinimumChannels
    var winogradWeightGradient = ConvolutionTuning.winogradWeightGradient
    var packedWeightGradientMinimumPlane = ConvolutionTuning.packedWeightGradientMinimumPlane
    var packedWeightGradientMaximumChannels = ConvolutionTuning.packedWeightGradientMaximumChannels
    var inferenceFusion = InferenceFusion.enabled
    var gatherPacking = ConvolutionTuning.gatherPacking
    var directPanelMaximumRows = ConvolutionTuning.directPanelMaximumRows
    var usesPackedKernel = ConvolutionTuning.usesPackedKernel
    var packedKernelInstructionSet = ConvolutionTuning.packedKernelInstructionSet

    init(_ options: BenchmarkOptions) {
        if let plane = options.int("winograd-plane") { winogradMaximumPlane = plane }
        if let channels = options.int("winograd-channels") { winogradMinimumChannels = channels }
        if let on = options.int("winograd-weight-gradient") { winogradWeightGradient = on != 0 }
        if let plane = options.int("weight-gradient-plane") { packedWeightGradientMinimumPlane = plane }
        if let channels = options.int("weight-gradient-channels") { packedWeightGradientMaximumChannels = channels }
        if let on = options.int("fusion") { inferenceFusion = on != 0 }
        if let on = options.int("gather-packing") { gatherPacking = on != 0 }
        if let rows = options.int("direct-rows") { directPanelMaximumRows = rows }
        switch options.string("kernels")?.lowercased() {
        case "blas": usesPackedKernel = false
        case "avx2": (usesPackedKernel, packedKernelInstructionSet) = (true, .avx2)
        case "avx512": (usesPackedKernel, packedKernelInstructionSet) = (true, .avx512)
        default: break
        }
    }

    func apply() {
        ConvolutionTuning.winogradMaximumPlane = winogradMaximumPlane
        ConvolutionTuning.winogradMinimumChannels = winogradMinimumChannels
        ConvolutionTuning.winogradWeightGradient = winogradWeightGradient
        ConvolutionTuning.packedWeightGradientMinimumPlane = packedWeightGradientMinimumPlane
        ConvolutionTuning.packedWeightGradientMaximumChannels = packedWeightGradientMaximumChannels
        InferenceFusion.enabled = inferenceFusion
        ConvolutionTuning.gatherPacking = gatherPacking
        ConvolutionTuning.directPanelMaximumRows = directPanelMaximumRows
        ConvolutionTuning.usesPackedKernel = usesPackedKernel
        ConvolutionTuning.packedKernelInstructionSet = packedKernelInstructionSet
    }
}

/// A/B timing on a machine whose speed drifts over seconds: the same body under two tunings,
/// alternating call by call (`warmUp` untimed calls of each first), until each has run `minIterations`
/// times and `minSeconds` in total. Returns both timings and the median of the per-pair ratios
/// (B's time over A's, each pair run back to back, so drift cancels).
/// `VISION_BENCH_TRACE=1` prints every pair.
func measureVersus(_ a: Tuning, _ b: Tuning, warmUp: Int = 1, minIterations: Int = 5, minSeconds: Double,
                   _ body: () -> Void) -> (a: Timing, b: Timing, ratio: Double) {
    for tuning in [a, b] {
        tuning.apply()
        for _ in 0..<warmUp { body() }
    }
    var times: ([Double], [Double]) = ([], [])
    var total = 0.0
    func timed(_ tuning: Tuning) -> Double {
        tuning.apply()
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
    while times.0.count < minIterations || total < minSeconds {
        // Alternate which goes first, so that neither always follows the other's cache state.
        let first = times.0.count % 2 == 0
        let (ta, tb) = first ? (timed(a), timed(b)) : { let tb = timed(b); return (timed(a), tb) }()
        times.0.append(ta); times.1.append(tb)
        total += ta + tb
    }
    a.apply()
    if ProcessInfo.processInfo.environment["VISION_BENCH_TRACE"] != nil {
        print(zip(times.0, times.1).map { String(format: "%.3f/%.3f", $0, $1) }.joined(separator: " "))
    }
    let ratios = zip(times.1, times.0).map { $0 / $1 }.sorted()
    func timing(_ values: [Double]) -> Timing {
        let sorted = values.sorted()
        return Timing(median: sorted[sorted.count / 2], best: sorted[0], cpu: .nan)
    }
    return (timing(times.0), timing(times.1), ratios[ratios.count / 2])
}

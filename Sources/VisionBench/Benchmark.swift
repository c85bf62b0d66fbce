import Dispatch
import Foundation

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
        Benchmark(name: "data", summary: "CIFAR-10 JPEG decode + crop + flip + normalise through the DataLoader, 1 and 2 workers (--root DIR)",
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

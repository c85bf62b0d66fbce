// vision-bench: performance figures for the hot paths. `vision-bench <benchmark|all> [options]`.
import Foundation
import VisionCore

// OpenBLAS reads OPENBLAS_CORETYPE while loading; restart with the AVX-512 kernels if needed.
BLASRuntime.reexecWithFastKernelsIfNeeded()

let arguments = Array(CommandLine.arguments.dropFirst())
// `--malloc glibc` measures what keeping freed tensor memory in the heap saves.
if BenchmarkOptions(arguments).string("malloc") != "glibc" { BLASRuntime.keepFreedMemory() }
let selection = arguments.first ?? "all"

func printUsage() {
    print("usage: vision-bench <benchmark|all> [options]")
    for benchmark in Benchmark.registry {
        print("  \(benchmark.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(benchmark.summary)")
    }
    print("  all        every benchmark above except the diagnostic ones")
    print("options: --seconds S (minimum timed seconds per case); conv: --channels C, --column-limit F; models: --only NAME;\n"
          + "  --malloc glibc (leave glibc's mmap/trim thresholds at their defaults: freed activations go back to the kernel)\n"
          + "  --winograd-plane P (largest plane of 3×3 stride-1 convolutions run as Winograd F(2×2, 3×3); default 256, 65536 on AVX2 CPUs)\n"
          + "  --winograd-channels C (fewest input and output channels for Winograd; default 128, 64 on AVX2 CPUs)\n"
          + "  --winograd-weight-gradient 0|1 (their weight gradients over the same tiles; default 1)\n"
          + "  --fusion 0|1 (eval-mode conv → batch-norm → ReLU as one pass; default 1)\n"
          + "  --gather-packing 0|1 (strided windows packed with gathers; default 1)\n"
          + "  --kernels blas|avx2|avx512 (convolutions on im2col + OpenBLAS or on the packed kernels of an instruction\n"
          + "    set up to the CPU's; default the CPU's best, or VISION_GEMM)\n"
          + "  --direct-rows R (stride-1 windows read straight from the images for products of up to R rows; default 64)\n"
          + "  --weight-gradient-plane P, --weight-gradient-channels C (3×3 weight gradients skip im2col + OpenBLAS\n"
          + "    from planes of P pixels (default 100) up to C channels (default 64))\n"
          + "  models: --versus \"OPTIONS\" (e.g. \"--winograd-plane 0\"): every case timed with the tuning options\n"
          + "    above and with these instead, alternating call by call, then their ratio")
}

if selection == "-h" || selection == "--help" || selection == "help" {
    printUsage()
    exit(0)
}
let chosen = selection == "all" ? Benchmark.registry.filter(\.inAll) : Benchmark.registry.filter { $0.name == selection }
if chosen.isEmpty {
    FileHandle.standardError.write(Data("vision-bench: unknown benchmark '\(selection)'\n".utf8))
    printUsage()
    exit(2)
}
let options = BenchmarkOptions(Array(arguments.dropFirst()))
Tuning(options).apply()
print("OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS threads, \(Parallel.threads) worker threads"
      + (BLASRuntime.wasReexecuted ? " (re-executed with OPENBLAS_CORETYPE=SkylakeX)" : "")
      + "; forward convolutions: " + (ConvolutionTuning.usesPackedKernel
          ? "\(ConvolutionTuning.packedKernelInstructionSet.map(\.description) ?? "") packed kernel (VISION_GEMM=blas for OpenBLAS, =avx2 for AVX2 on AVX-512)"
          : "im2col + OpenBLAS"))
for benchmark in chosen {
    benchmark.run(options)
}

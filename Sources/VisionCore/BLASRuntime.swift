#if canImport(Glibc)
import Glibc
#endif
import CKernels
import Foundation

/// Process-level settings made first thing in `main`: OpenBLAS's kernel choice (before the library
/// initialises) and the allocator's handling of large blocks.
public enum BLASRuntime {
    /// OpenBLAS kernel families that already use AVX-512.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    static let reexecMarker = "VISION_BLAS_REEXECUTED"

    /// Whether this process was restarted by `reexecWithFastKernelsIfNeeded()`.
    public static var wasReexecuted: Bool {
        ProcessInfo.processInfo.environment[reexecMarker] == "1"
    }

    /// Restarts the current program with `OPENBLAS_CORETYPE=SkylakeX` when OpenBLAS picked kernels
    /// slower than the CPU supports.
    ///
    /// Debian's OpenBLAS 0.3.21 selects its AVX2 (Haswell/Zen) kernels on some AVX-512 AMD CPUs;
    /// with the environment variable set before `libopenblas` loads it uses AVX-512 and sgemm about
    /// doubles. The variable is read during library initialisation, before `main`, so the only way
    /// to apply it from inside the program is to `execv` `/proc/self/exe` with the same arguments.
    ///
    /// Does nothing (and returns) when: not on Linux; `OPENBLAS_CORETYPE` is already set;
    /// `VISION_NO_REEXEC=1`; the process was already re-executed once; OpenBLAS already runs an
    /// AVX-512 kernel family (`BLAS.coreName` SkylakeX, Cooperlake or SapphireRapids); the CPU lacks
    /// `avx512f` in `/proc/cpuinfo`; or `execv` fails. Call it first thing in `main`, before any
    /// other work, since on success the current process image is replaced.
    public static func reexecWithFastKernelsIfNeeded() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil,
              environment["VISION_NO_REEXEC"] != "1",
              environment[reexecMarker] == nil,
              !avx512Cores.contains(BLAS.coreName.lowercased()),
              cpuSupportsAVX512F() else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv(reexecMarker, "1", 1)
        _ = execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure: carry on with the default kernels.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(reexecMarker)
        #endif
    }

    /// Keeps freed tensor storage in the heap instead of returning it to the kernel: glibc's default
    /// maps and unmaps large blocks, so every training step pays page faults and kernel zeroing for
    /// the same activations again. Blocks up to 32 MiB (glibc's maximum) come from the heap, and the
    /// heap is trimmed only above 1 GiB of free space.
    public static func keepFreedMemory() {
        ck_keep_freed_memory()
    }

    /// Bytes of freed memory the C allocator keeps for reuse, nil where it does not say (not glibc ≥ 2.33).
    public static func heapFreeBytes() -> Int? {
        let bytes = ck_heap_free_bytes()
        return bytes < 0 ? nil : bytes
    }

    /// Whether `/proc/cpuinfo` lists the `avx512f` flag (false where it cannot be read).
    public static func cpuSupportsAVX512F() -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        for line in info.split(separator: "\n") where line.hasPrefix("flags") {
            return line.split(separator: " ").contains("avx512f")
        }
        return false
    }
}

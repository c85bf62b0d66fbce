import ArgumentParser
import Foundation
import VisionCore

@main
struct Vision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "Train and run convolutional networks on images, on the CPU.",
        discussion: """
        Datasets by name: cifar (CIFAR-10), cifar100, fashion-mnist, mnist, isbi2012; or a folder of class folders (root/<class>/*.png|jpg), a folder with train/ and test/ class trees, or a segmentation folder (root/image/NAME.png with root/label/NAME.png). Named datasets are looked up in $VISION_DATA, then ./datasets (Fashion-MNIST and MNIST also in /usr/share/datasets).
        """,
        subcommands: [Train.self, Evaluate.self, Predict.self, Segment.self, SobelCommand.self, Features.self, Augment.self,
                      Finetune.self, LRFind.self, Models.self, Convert.self],
        defaultSubcommand: nil)

    static func main() {
        // OpenBLAS chooses its kernels while loading; restart once with the AVX-512 ones where the CPU has them.
        BLASRuntime.reexecWithFastKernelsIfNeeded()
        BLASRuntime.keepFreedMemory()
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version: ArgumentParser prints them
            }
            // One line naming the problem (no usage dump); `--help` explains the options.
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("vision: error: \(message.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

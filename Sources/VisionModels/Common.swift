import VisionCore
import VisionNN

/// Which first layers a ResNet uses.
public enum Stem: String, Sendable, CaseIterable {
    /// 7×7 stride-2 `conv1` + `bn1` + ReLU + 3×3 stride-2 `maxpool` (ImageNet inputs).
    case imagenet
    /// 3×3 stride-1 `conv1` + `bn1` + ReLU, no max-pool (32×32-class inputs); same key names.
    case small
}

/// 3×3 convolution with padding 1 and no bias (torchvision's `conv3x3`).
func conv3x3(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: inout SeededGenerator) -> Conv2d {
    Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false, generator: &generator)
}

/// 1×1 convolution with no bias (torchvision's `conv1x1`).
func conv1x1(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: inout SeededGenerator) -> Conv2d {
    Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false, generator: &generator)
}

/// The initialisation torchvision applies to ResNet and VGG: Kaiming-normal (fan_out, ReLU) for
/// convolutions with zero bias, weight 1 and bias 0 for batch-norm.
func initialiseConvolutionsAndNorms(_ root: Module, generator: inout SeededGenerator) {
    for (_, module) in root.namedModules() {
        if let conv = module as? Conv2d {
            Init.kaimingNormal(conv.weight, mode: .fanOut, nonlinearity: .relu, generator: &generator)
            if let b = conv.bias { Init.constant(b, 0) }
        } else if let bn = module as? BatchNorm2d {
            Init.constant(bn.weight, 1)
            Init.constant(bn.bias, 0)
        }
    }
}

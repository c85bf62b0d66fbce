import VisionCore
import VisionNN

/// Parameters that share a learning-rate multiplier and a weight decay.
///
/// A group's learning rate is `optimizer.learningRate · learningRateScale`, so a schedule that sets
/// the optimizer's learning rate moves every group proportionally: a fine-tuned backbone with
/// scale 0.1 keeps learning ten times slower than a new head with scale 1. `weightDecay` nil takes
/// the optimizer's default; 0 switches decay off for the group (biases, batch-norm scales).
public struct ParameterGroup {
    /// The tensors updated by the optimizer; those whose `grad` is nil at `step()` are skipped.
    public var parameters: [Tensor]
    /// Multiplier applied to the optimizer's learning rate for this group.
    public var learningRateScale: Float
    /// This group's weight decay, or nil for the optimizer's default.
    public var weightDecay: Float?
    /// A label for logs (`"backbone"`, `"no_decay"`); not used by the optimizer.
    public var name: String

    public init(_ parameters: [Tensor], learningRateScale: Float = 1, weightDecay: Float? = nil, name: String = "") {
        precondition(learningRateScale >= 0, "learningRateScale must be non-negative, got \(learningRateScale)")
        precondition(weightDecay.map { $0 >= 0 } ?? true, "weightDecay must be non-negative, got \(weightDecay!)")
        self.parameters = parameters
        self.learningRateScale = learningRateScale
        self.weightDecay = weightDecay
        self.name = name
    }

    /// One group holding every parameter of `module`.
    public init(module: Module, learningRateScale: Float = 1, weightDecay: Float? = nil, name: String = "") {
        self.init(module.parameters(), learningRateScale: learningRateScale, weightDecay: weightDecay, name: name)
    }

    /// Splits named parameters into a decayed group (`"<prefix>decay"`, the optimizer's decay) and an
    /// undecayed group (`"<prefix>no_decay"`, decay 0). Empty groups are left out.
    ///
    /// By default tensors of rank ≤ 1 — biases and batch-norm scales and shifts — skip decay, the
    /// usual rule for CNNs: decaying them only fights normalisation.
    /// - Parameters:
    ///   - named: parameters with their state-dict names (`module.namedParameters()`, possibly filtered).
    ///   - learningRateScale: multiplier for both groups (e.g. 0.1 for a pretrained backbone).
    ///   - prefix: prepended to both group names.
    ///   - noDecay: which parameters skip decay, given name and tensor.
    public static func splittingWeightDecay(_ named: [(name: String, tensor: Tensor)], learningRateScale: Float = 1,
                                            prefix: String = "",
                                            noDecay: (String, Tensor) -> Bool = { _, tensor in tensor.rank <= 1 })
        -> [ParameterGroup] {
        var decayed: [Tensor] = []
        var undecayed: [Tensor] = []
        for (name, tensor) in named {
            if noDecay(name, tensor) { undecayed.append(tensor) } else { decayed.append(tensor) }
        }
        var groups: [ParameterGroup] = []
        if !decayed.isEmpty {
            groups.append(ParameterGroup(decayed, learningRateScale: learningRateScale, name: prefix + "decay"))
        }
        if !undecayed.isEmpty {
            groups.append(ParameterGroup(undecayed, learningRateScale: learningRateScale, weightDecay: 0,
                                         name: prefix + "no_decay"))
        }
        return groups
    }

    /// Splits named parameters of `module` in the order of precedence of torchvision's reference
    /// training scripts (`--bias-weight-decay`, then `--norm-weight-decay`): parameters named `bias`,
    /// batch-norm biases included (`"<prefix>bias"`, decay `biasWeightDecay`), the other parameters of
    /// normalisation layers (batch, group, instance, layer) — their scales (`"<prefix>norm"`, decay `normWeightDecay`), and the rest
    /// (`"<prefix>decay"`, the optimizer's decay). Empty groups are left out. He et al. (2015) decayed
    /// every parameter: both values equal to the optimizer's decay reproduce that.
    /// - Parameters:
    ///   - named: parameters with their state-dict names in `module` (possibly filtered).
    public static func splittingWeightDecay(_ named: [(name: String, tensor: Tensor)], of module: Module,
                                            normWeightDecay: Float, biasWeightDecay: Float,
                                            learningRateScale: Float = 1, prefix: String = "") -> [ParameterGroup] {
        // torchvision's norm classes: batch, group, instance and layer normalisation.
        let normLayers = Set(module.namedModules().filter {
            $0.module is BatchNorm2d || $0.module is GroupNorm || $0.module is InstanceNorm2d || $0.module is LayerNorm
        }.map(\.name))
        var decayed: [Tensor] = [], norm: [Tensor] = [], bias: [Tensor] = []
        for (name, tensor) in named {
            let dot = name.lastIndex(of: ".")
            let owner = dot.map { String(name[..<$0]) } ?? ""
            let leaf = dot.map { String(name[name.index(after: $0)...]) } ?? name
            if leaf == "bias" { bias.append(tensor) }
            else if normLayers.contains(owner) { norm.append(tensor) }
            else { decayed.append(tensor) }
        }
        return [(decayed, nil as Float?, "decay"), (norm, normWeightDecay, "norm"), (bias, biasWeightDecay, "bias")]
            .filter { !$0.0.isEmpty }
            .map { ParameterGroup($0.0, learningRateScale: learningRateScale, weightDecay: $0.1, name: prefix + $0.2) }
    }

    /// `splittingWeightDecay(module.namedParameters(), …)`.
    public static func splittingWeightDecay(_ module: Module, learningRateScale: Float = 1, prefix: String = "",
                                            noDecay: (String, Tensor) -> Bool = { _, tensor in tensor.rank <= 1 })
        -> [ParameterGroup] {
        splittingWeightDecay(module.namedParameters(), learningRateScale: learningRateScale, prefix: prefix,
                             noDecay: noDecay)
    }
}

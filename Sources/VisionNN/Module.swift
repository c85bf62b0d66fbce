import VisionCore

/// A network building block with named parameters, buffers and children.
///
/// Names follow PyTorch's `state_dict()` keys: a child registered as `layer1` whose child `0` has a
/// parameter `weight` yields `layer1.0.weight`. Parameters and buffers are `Tensor` objects shared
/// with the stored properties of the subclass, so loading a state dict (which replaces `storage`
/// in place) and optimizer updates are seen by both.
open class Module {
    public private(set) var isTraining = true
    private var ownParameters: [(String, Tensor)] = []
    private var ownBuffers: [(String, Tensor)] = []
    private var ownChildren: [(String, Module)] = []

    public init() {}

    /// The computation; subclasses override.
    open func forward(_ input: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) does not implement forward(_:)")
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let output = forward(input)
        if let recorder = activationRecorder { recorder.outputs[recorderKey] = output }
        return output
    }

    // MARK: Intermediate outputs

    private var activationRecorder: ActivationRecorder?
    private var recorderKey = ""

    /// Whether `captureOutputs` is recording this module's output (fused paths must then not skip it).
    var isCapturingOutput: Bool { activationRecorder != nil }

    /// Runs `body` (typically a forward pass) while capturing the outputs of the modules at the given
    /// dotted paths (e.g. `layer1`, `layer3.1`, `features.10`, `down.2`). Unknown paths throw.
    public func captureOutputs(of paths: [String], during body: () throws -> Void) throws -> [String: Tensor] {
        let recorder = ActivationRecorder()
        var hooked: [Module] = []
        defer { for m in hooked { m.activationRecorder = nil } }
        for path in paths {
            guard let target = module(at: path) else { throw ModuleError.unknownLayer(path) }
            target.activationRecorder = recorder
            target.recorderKey = path
            hooked.append(target)
        }
        try body()
        return recorder.outputs
    }

    // MARK: Freezing

    /// Stops (or restarts) gradient flow into every parameter of this module and its children.
    public func setTrainable(_ trainable: Bool) {
        for p in parameters() { p.requiresGrad = trainable; if !trainable { p.grad = nil } }
    }

    // MARK: Registration

    /// Registers a trainable tensor under `name` (marks it `requiresGrad`).
    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        if let i = ownParameters.firstIndex(where: { $0.0 == name }) { ownParameters[i].1 = tensor }
        else { ownParameters.append((name, tensor)) }
        return tensor
    }

    /// Registers a non-trainable tensor saved in the state dict (e.g. `running_mean`).
    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        if let i = ownBuffers.firstIndex(where: { $0.0 == name }) { ownBuffers[i].1 = tensor }
        else { ownBuffers.append((name, tensor)) }
        return tensor
    }

    /// Registers a child module under `name`.
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ module: M) -> M {
        if let i = ownChildren.firstIndex(where: { $0.0 == name }) { ownChildren[i].1 = module }
        else { ownChildren.append((name, module)) }
        return module
    }

    // MARK: Traversal

    /// Direct children in registration order.
    public var children: [(name: String, module: Module)] { ownChildren.map { ($0.0, $0.1) } }

    /// Every module in the tree with its dotted path (`""` for self), depth first.
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for (name, child) in ownChildren {
            result += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// The module at a dotted path such as `layer3.1`, or nil.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var current: Module = self
        for part in path.split(separator: ".") {
            guard let next = current.ownChildren.first(where: { $0.0 == part })?.1 else { return nil }
            current = next
        }
        return current
    }

    /// Every parameter with its dotted name, in registration order.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.ownParameters.map { (path.isEmpty ? $0.0 : "\(path).\($0.0)", $0.1) }
        }
    }

    /// Every buffer with its dotted name.
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.ownBuffers.map { (path.isEmpty ? $0.0 : "\(path).\($0.0)", $0.1) }
        }
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Total number of trainable scalars.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Parameters and buffers by state-dict key, in a stable order.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedParameters() + namedBuffers()
    }

    // MARK: Modes

    /// Switches this module and its children to training mode (or eval mode with `false`).
    open func train(_ on: Bool = true) {
        isTraining = on
        for (_, child) in ownChildren { child.train(on) }
    }

    /// Switches to evaluation mode (batch-norm uses running statistics, dropout is the identity).
    public func eval() { train(false) }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters() { p.zeroGrad() }
    }
}

/// Collects the outputs captured by `Module.captureOutputs`.
final class ActivationRecorder {
    var outputs: [String: Tensor] = [:]
}

public enum ModuleError: Error, CustomStringConvertible {
    case unknownLayer(String)

    public var description: String {
        switch self {
        case .unknownLayer(let name): return "no layer named '\(name)'"
        }
    }
}

/// Holds child modules named `0`, `1`, … without calling them in sequence (PyTorch's ModuleList).
public final class ModuleList: Module {
    public private(set) var modules: [Module] = []

    public init(_ modules: [Module]) {
        super.init()
        for m in modules { append(m) }
    }

    public func append(_ module: Module) {
        registerModule(String(modules.count), module)
        modules.append(module)
    }

    public subscript(index: Int) -> Module { modules[index] }
    public var count: Int { modules.count }
}

/// Applies its children in order; children are named `0`, `1`, … as in PyTorch.
public final class Sequential: Module {
    public private(set) var layers: [Module] = []

    public init(_ layers: [Module]) {
        super.init()
        for layer in layers { append(layer) }
    }

    public convenience init(_ layers: Module...) { self.init(layers) }

    public func append(_ layer: Module) {
        registerModule(String(layers.count), layer)
        layers.append(layer)
    }

    /// Replaces the layer at `index` (keeping its key).
    public func replace(at index: Int, with layer: Module) {
        layers[index] = layer
        registerModule(String(index), layer)
    }

    /// Runs the layers in order; a `Conv2d`, `BatchNorm2d` (and `ReLU`) run goes through `convBatchNorm`,
    /// which fuses them in eval mode.
    public override func forward(_ input: Tensor) -> Tensor {
        var x = input, i = 0
        while i < layers.count {
            if let conv = layers[i] as? Conv2d, i + 1 < layers.count, let bn = layers[i + 1] as? BatchNorm2d {
                let relu = i + 2 < layers.count ? layers[i + 2] as? ReLU : nil
                x = convBatchNorm(x, conv, bn, relu: relu)
                i += relu == nil ? 2 : 3
            } else {
                x = layers[i](x)
                i += 1
            }
        }
        return x
    }
}

/// A layer's input-shape check that stays in `-Ounchecked` builds (where `precondition` is compiled
/// out): a wrong shape must stop the program with a message, never let a kernel read past its weights.
@inline(__always)
func requireShape(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}

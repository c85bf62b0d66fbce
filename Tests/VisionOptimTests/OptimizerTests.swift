import Foundation
import TestSupport
import VisionCore
import VisionNN
import VisionOptim
import XCTest

/// A linear layer built from registered parameters, for group and EMA tests.
final class TinyLinear: Module {
    let weight: Tensor
    let bias: Tensor
    let runningMean: Tensor

    init(inFeatures: Int, outFeatures: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        weight = Tensor.normal([inFeatures, outFeatures], std: 0.5, generator: &generator)
        bias = Tensor.zeros([outFeatures])
        runningMean = Tensor.zeros([outFeatures])
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("num_batches_tracked", Tensor.zeros([]))
    }

    override func forward(_ input: Tensor) -> Tensor { input.matmul(weight) + bias }
}

/// tanh from existing ops: (e^{2x} − 1)/(e^{2x} + 1), clamped so e^{2x} stays finite.
func tanhFromExp(_ x: Tensor) -> Tensor {
    let e = (x.clamp(min: -15, max: 15) * 2).exp()
    return (e - 1) / (e + 1)
}

final class OptimizerTests: XCTestCase {
    // MARK: Convergence

    /// Least squares `mean((A·x − b)²)` with an exact solution; returns (initial, final) loss.
    private func leastSquares(steps: Int, _ makeOptimizer: (Tensor) -> Optimizer) -> (Float, Float) {
        var generator = SeededGenerator(seed: 7)
        let a = Tensor.normal([32, 4], generator: &generator)
        let truth = Tensor.normal([4, 1], generator: &generator)
        let b = a.matmul(truth)
        let x = Tensor.zeros([4, 1], requiresGrad: true)
        let optimizer = makeOptimizer(x)
        func loss() -> Tensor { (a.matmul(x) - b).square().mean() }
        let initial = Autograd.noGrad { loss().item }
        for _ in 0..<steps {
            optimizer.zeroGrad()
            loss().backward()
            optimizer.step()
        }
        return (initial, Autograd.noGrad { loss().item })
    }

    func testEveryOptimizerSolvesLeastSquares() {
        let cases: [(String, Int, (Tensor) -> Optimizer)] = [
            ("SGD", 200, { SGD([ParameterGroup([$0])], learningRate: 0.1) }),
            ("SGD momentum", 200, { SGD([ParameterGroup([$0])], learningRate: 0.05, momentum: 0.9) }),
            ("SGD Nesterov", 200, { SGD([ParameterGroup([$0])], learningRate: 0.05, momentum: 0.9, nesterov: true) }),
            ("Adagrad", 300, { Adagrad([ParameterGroup([$0])], learningRate: 0.5) }),
            ("RMSprop", 300, { RMSprop([ParameterGroup([$0])], learningRate: 0.01) }),
            ("RMSprop centred momentum", 300, { RMSprop([ParameterGroup([$0])], learningRate: 0.005, momentum: 0.5, centered: true) }),
            ("Adam", 300, { Adam([ParameterGroup([$0])], learningRate: 0.05) }),
            ("Adam AMSGrad", 300, { Adam([ParameterGroup([$0])], learningRate: 0.05, amsgrad: true) }),
            ("AdamW", 300, { AdamW([ParameterGroup([$0])], learningRate: 0.05, weightDecay: 1e-4) }),
        ]
        for (name, steps, make) in cases {
            let (initial, final) = leastSquares(steps: steps, make)
            XCTAssertGreaterThan(initial, 1, name)
            XCTAssertLessThan(final, 1e-3, "\(name) did not fit least squares (loss \(initial) → \(final))")
        }
    }

    /// A 2-8-1 tanh network on XOR; returns the final mean squared error and the four outputs.
    private func fitXOR(steps: Int, _ makeOptimizer: ([Tensor]) -> Optimizer) -> (Float, [Float]) {
        var generator = SeededGenerator(seed: 3)
        let inputs = Tensor([0, 0, 0, 1, 1, 0, 1, 1], shape: [4, 2])
        let targets = Tensor([0, 1, 1, 0], shape: [4, 1])
        let w1 = Tensor.normal([2, 8], std: 1, generator: &generator, requiresGrad: true)
        let b1 = Tensor.zeros([8], requiresGrad: true)
        let w2 = Tensor.normal([8, 1], std: 0.5, generator: &generator, requiresGrad: true)
        let b2 = Tensor.zeros([1], requiresGrad: true)
        let optimizer = makeOptimizer([w1, b1, w2, b2])
        func predict() -> Tensor { tanhFromExp(inputs.matmul(w1) + b1).matmul(w2) + b2 }
        for _ in 0..<steps {
            optimizer.zeroGrad()
            (predict() - targets).square().mean().backward()
            optimizer.step()
        }
        let outputs = Autograd.noGrad { predict() }
        return (Autograd.noGrad { (outputs - targets).square().mean().item }, outputs.storage)
    }

    func testSGDMomentumAndAdamFitXOR() {
        let runs: [(String, (Float, [Float]))] = [
            ("SGD momentum", fitXOR(steps: 400) { SGD([ParameterGroup($0)], learningRate: 0.05, momentum: 0.9) }),
            ("Adam", fitXOR(steps: 400) { Adam([ParameterGroup($0)], learningRate: 0.03) }),
        ]
        for (name, (loss, outputs)) in runs {
            XCTAssertLessThan(loss, 0.01, "\(name) did not fit XOR: outputs \(outputs)")
            XCTAssertEqual(outputs.map { $0 > 0.5 }, [false, true, true, false], name)
        }
    }

    // MARK: Weight-decay semantics

    /// With no loss gradient Adam+L2 normalises the decay term away: its first step moves every weight
    /// by ≈ lr whatever λ is, while AdamW shrinks by exactly the fraction lr·λ per step.
    func testAdamL2DecayIsNormalisedAwayButAdamWDecayIsProportional() {
        func run(_ make: ([ParameterGroup]) -> Optimizer, steps: Int) -> [Float] {
            let w = Tensor([2, -0.5], shape: [2], requiresGrad: true)
            let optimizer = make([ParameterGroup([w])])
            for _ in 0..<steps {
                w.grad = Tensor.zeros([2])
                optimizer.step()
            }
            return w.storage
        }
        for lambda: Float in [0.1, 0.001] {
            let coupled = run({ Adam($0, learningRate: 0.01, weightDecay: lambda) }, steps: 1)
            assertClose(coupled, [2 - 0.01, -0.5 + 0.01], rtol: 1e-4, atol: 1e-5, "Adam+L2 first step, λ = \(lambda)")
            let decoupled = run({ AdamW($0, learningRate: 0.01, weightDecay: lambda) }, steps: 3)
            let shrink = Float(Foundation.pow(Double(1 - 0.01 * lambda), 3))
            assertClose(decoupled, [2 * shrink, -0.5 * shrink], rtol: 1e-6, atol: 0, "AdamW, λ = \(lambda)")
        }
    }

    /// Loshchilov & Hutter: with L2 in Adam, weights with large gradients are decayed less than weights
    /// with small gradients; AdamW decays both alike.
    func testAdamL2DecaysLargeGradientWeightsLessThanAdamW() {
        // Alternating gradients: coordinate 0 large (±10), coordinate 1 small (±0.01); both weights start at 1.
        func decayEffect(_ make: ([ParameterGroup], Float) -> Optimizer) -> [Float] {
            func run(weightDecay: Float) -> [Float] {
                let w = Tensor([1, 1], shape: [2], requiresGrad: true)
                let optimizer = make([ParameterGroup([w])], weightDecay)
                for t in 0..<50 {
                    let sign: Float = t % 2 == 0 ? 1 : -1
                    w.grad = Tensor([10 * sign, 0.01 * sign], shape: [2])
                    optimizer.step()
                }
                return w.storage
            }
            let with = run(weightDecay: 0.1), without = run(weightDecay: 0)
            return [without[0] - with[0], without[1] - with[1]]
        }
        let coupled = decayEffect { Adam($0, learningRate: 0.01, weightDecay: $1) }
        let decoupled = decayEffect { AdamW($0, learningRate: 0.01, weightDecay: $1) }
        XCTAssertGreaterThan(coupled[1], 0)
        XCTAssertLessThan(coupled[0], 0.05 * coupled[1], "Adam+L2 should barely decay the large-gradient weight: \(coupled)")
        XCTAssertEqual(decoupled[0], decoupled[1], accuracy: 0.05 * decoupled[1], "AdamW decays both alike: \(decoupled)")
        // ≈ the weight times 1 − (1 − lr·λ)^50 (the weights stay near 1).
        XCTAssertEqual(decoupled[0], 1 - Float(Foundation.pow(1 - 0.001, 50.0)), accuracy: 2e-3)
    }

    /// Plain SGD with L2 decay λ is SGD with decoupled decay λ' = α·λ (Loshchilov & Hutter, Prop. 1);
    /// with momentum they differ because the L2 term passes through the momentum buffer.
    func testSGDL2EqualsDecoupledDecayUnderReparameterisation() {
        let alpha: Float = 0.05, lambda: Float = 0.2
        var generator = SeededGenerator(seed: 11)
        let gradients = (0..<20).map { _ in Tensor.normal([5], generator: &generator) }
        let start = Tensor.normal([5], generator: &generator)
        func run(momentum: Float, decoupled: Bool) -> [Float] {
            let w = start.detach()
            w.requiresGrad = true
            let optimizer = SGD([ParameterGroup([w])], learningRate: alpha, momentum: momentum,
                                weightDecay: decoupled ? alpha * lambda : lambda, decoupledWeightDecay: decoupled)
            for g in gradients {
                w.grad = g
                optimizer.step()
            }
            return w.storage
        }
        assertClose(run(momentum: 0, decoupled: true), run(momentum: 0, decoupled: false), rtol: 1e-5, atol: 1e-6,
                    "SGD L2 λ vs decoupled α·λ")
        let coupledMomentum = run(momentum: 0.9, decoupled: false), decoupledMomentum = run(momentum: 0.9, decoupled: true)
        XCTAssertGreaterThan(zip(coupledMomentum, decoupledMomentum).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testDecoupledSGDDecayFollowsTheScheduleMultiplier() {
        let w = Tensor([1, 2], shape: [2], requiresGrad: true)
        let optimizer = SGD([ParameterGroup([w])], learningRate: 0.1, weightDecay: 0.1, decoupledWeightDecay: true)
        w.grad = Tensor.zeros([2])
        optimizer.step()
        assertClose(w.storage, [0.9, 1.8], rtol: 1e-6, atol: 0)
        optimizer.learningRate = 0.05  // the schedule halves the rate: decay halves too
        optimizer.step()
        assertClose(w.storage, [0.9 * 0.95, 1.8 * 0.95], rtol: 1e-6, atol: 0)
    }

    // MARK: Groups

    func testGroupsScaleTheLearningRateAndOverrideWeightDecay() {
        let head = Tensor([1, 1], shape: [2], requiresGrad: true)
        let backbone = Tensor([1, 1], shape: [2], requiresGrad: true)
        let bias = Tensor([1], shape: [1], requiresGrad: true)
        let optimizer = SGD([ParameterGroup([head], name: "head"),
                             ParameterGroup([backbone], learningRateScale: 0.1, name: "backbone"),
                             ParameterGroup([bias], weightDecay: 0, name: "bias")],
                            learningRate: 0.5, weightDecay: 0.2)
        for t in [head, backbone, bias] { t.grad = Tensor.ones(t.shape) }
        optimizer.step()
        assertClose(head.storage, [1 - 0.5 * 1.2, 1 - 0.5 * 1.2])
        assertClose(backbone.storage, [1 - 0.05 * 1.2, 1 - 0.05 * 1.2])
        assertClose(bias.storage, [1 - 0.5])
        optimizer.learningRate = 0.25
        XCTAssertEqual(optimizer.learningRate(ofGroup: 1), 0.025, accuracy: 1e-9)
        optimizer.zeroGrad()
        XCTAssertTrue([head, backbone, bias].allSatisfy { $0.grad == nil })
    }

    func testSplittingWeightDecayKeepsBiasesUndecayed() {
        let model = TinyLinear(inFeatures: 3, outFeatures: 2, seed: 1)
        let groups = ParameterGroup.splittingWeightDecay(model, learningRateScale: 0.1, prefix: "backbone.")
        XCTAssertEqual(groups.map(\.name), ["backbone.decay", "backbone.no_decay"])
        XCTAssertTrue(groups[0].parameters.first === model.weight)
        XCTAssertTrue(groups[1].parameters.first === model.bias)
        XCTAssertNil(groups[0].weightDecay)
        XCTAssertEqual(groups[1].weightDecay, 0)
        XCTAssertEqual(groups.map(\.learningRateScale), [0.1, 0.1])
    }

    /// torchvision's reference-script split and precedence: every bias (batch-norm shifts too), then
    /// batch-norm scales, then the rest; a PReLU slope (rank 1, neither) takes the optimizer's decay.
    /// One SGD step shows each group's decay applied.
    func testSplittingWeightDecayByLayerKind() {
        var g = SeededGenerator(seed: 3)
        let conv = Conv2d(1, 2, kernelSize: (3, 3), generator: &g), norm = BatchNorm2d(2), prelu = PReLU()
        let linear = Linear(2, 3, generator: &g)
        let model = Sequential(conv, norm, prelu, linear)
        let groups = ParameterGroup.splittingWeightDecay(model.namedParameters(), of: model, normWeightDecay: 0.5,
                                                         biasWeightDecay: 0.25, learningRateScale: 0.1, prefix: "backbone_")
        XCTAssertEqual(groups.map(\.name), ["backbone_decay", "backbone_norm", "backbone_bias"])
        XCTAssertEqual(groups.map { $0.parameters.map(ObjectIdentifier.init) }, [
            [conv.weight, prelu.weight, linear.weight], [norm.weight], [conv.bias!, norm.bias, linear.bias!],
        ].map { $0.map(ObjectIdentifier.init) })
        XCTAssertEqual(groups.map(\.weightDecay), [nil, 0.5, 0.25])
        XCTAssertEqual(groups.map(\.learningRateScale), [0.1, 0.1, 0.1])

        let optimizer = SGD(groups, learningRate: 1, momentum: 0, weightDecay: 0.125)
        let before = groups.map { $0.parameters.map(\.storage) }
        for group in groups { for p in group.parameters { p.grad = Tensor.zeros(p.shape) } }
        optimizer.step()
        // With zero gradients a step is p ← p − lr·scale·decay·p.
        for (k, decay) in [Float(0.125), 0.5, 0.25].enumerated() {
            for (p, old) in zip(groups[k].parameters, before[k]) {
                assertClose(p.storage, old.map { $0 * (1 - 0.1 * decay) }, rtol: 1e-6, atol: 1e-7, groups[k].name)
            }
        }
        // Group, instance and layer normalisation scales are norm parameters too, as in torchvision's reference scripts.
        let groupNorm = GroupNorm(numGroups: 1, numChannels: 2), instanceNorm = InstanceNorm2d(2, affine: true)
        let layerNorm = LayerNorm([2, 1, 1])
        let normed = Sequential(Conv2d(1, 2, kernelSize: (1, 1), bias: false, generator: &g), groupNorm, instanceNorm, layerNorm)
        let normGroups = ParameterGroup.splittingWeightDecay(normed.namedParameters(), of: normed, normWeightDecay: 0,
                                                             biasWeightDecay: 0)
        XCTAssertEqual(normGroups.map(\.name), ["decay", "norm", "bias"])
        XCTAssertEqual(normGroups[1].parameters.map(ObjectIdentifier.init),
                       [groupNorm.weight!, instanceNorm.weight!, layerNorm.weight!].map(ObjectIdentifier.init))
        // Without batch-norm layers or biases, only the decayed group remains.
        let bare = Conv2d(1, 1, kernelSize: (1, 1), bias: false, generator: &g)
        XCTAssertEqual(ParameterGroup.splittingWeightDecay(bare.namedParameters(), of: bare, normWeightDecay: 0,
                                                           biasWeightDecay: 0).map(\.name), ["decay"])
    }

    func testParametersWithoutGradientAreSkipped() {
        let a = Tensor([1, 2], shape: [2], requiresGrad: true)
        let b = Tensor([3], shape: [1], requiresGrad: true)
        let optimizer = Adam([ParameterGroup([a, b])], learningRate: 0.1)
        a.grad = Tensor([1, -1], shape: [2])
        optimizer.step()
        XCTAssertEqual(b.storage, [3])
        XCTAssertEqual(optimizer.stateDict().filter { $0.name.hasPrefix("state.0.1.") }.count, 0)
        XCTAssertEqual(optimizer.stepCount(group: 0, index: 0), 1)
        XCTAssertEqual(optimizer.stepCount(group: 0, index: 1), 0)
        assertClose(a.storage, [0.9, 2.1], rtol: 1e-5, atol: 1e-6)
    }

    func testMaximizeAscends() {
        let w = Tensor([0], shape: [1], requiresGrad: true)
        let optimizer = SGD([ParameterGroup([w])], learningRate: 0.1, maximize: true)
        w.grad = Tensor([2], shape: [1])
        optimizer.step()
        XCTAssertEqual(w.storage[0], 0.2, accuracy: 1e-7)
    }

    // MARK: State dicts

    func testStateDictRoundTripResumesExactly() throws {
        var generator = SeededGenerator(seed: 5)
        let gradients = (0..<6).map { _ in (Tensor.normal([2, 3], generator: &generator), Tensor.normal([3], generator: &generator)) }
        let makers: [(String, ([ParameterGroup]) -> GradientOptimizer)] = [
            ("SGD", { SGD($0, learningRate: 0.1, momentum: 0.9, nesterov: true) }),
            ("Adagrad", { Adagrad($0, learningRate: 0.1, learningRateDecay: 0.01, initialAccumulatorValue: 0.1) }),
            ("RMSprop", { RMSprop($0, momentum: 0.5, centered: true) }),
            ("Adam", { Adam($0, learningRate: 0.01, weightDecay: 0.1, amsgrad: true) }),
            ("AdamW", { AdamW($0, learningRate: 0.01) }),
        ]
        for (name, make) in makers {
            func fresh() -> (Tensor, Tensor, GradientOptimizer) {
                let w = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
                let b = Tensor([0.5, -0.5, 0], shape: [3], requiresGrad: true)
                return (w, b, make([ParameterGroup([w]), ParameterGroup([b], learningRateScale: 0.5, weightDecay: 0)]))
            }
            let (w, b, optimizer) = fresh()
            func run(_ range: Range<Int>, _ w: Tensor, _ b: Tensor, _ optimizer: Optimizer) {
                for k in range {
                    w.grad = gradients[k].0
                    b.grad = gradients[k].1
                    optimizer.step()
                }
            }
            run(0..<3, w, b, optimizer)
            let state = Dictionary(uniqueKeysWithValues: optimizer.stateDict().map { ($0.name, $0.tensor) })
            XCTAssertNotNil(state["state.1.0.step"], name)
            let (w2, b2, resumed) = fresh()
            w2.storage = w.storage
            b2.storage = b.storage
            try resumed.loadStateDict(state)
            run(3..<6, w, b, optimizer)
            run(3..<6, w2, b2, resumed)
            XCTAssertEqual(w2.storage, w.storage, name)
            XCTAssertEqual(b2.storage, b.storage, name)
            XCTAssertEqual(resumed.stepCount(group: 1, index: 0), 6, name)
        }
    }

    func testLoadStateDictRejectsStateThatDoesNotFit() {
        let w = Tensor([1, 2], shape: [2], requiresGrad: true)
        let adam = Adam([ParameterGroup([w])])
        w.grad = Tensor.ones([2])
        adam.step()
        let state = Dictionary(uniqueKeysWithValues: adam.stateDict().map { ($0.name, $0.tensor) })

        let sgd = SGD([ParameterGroup([w])], learningRate: 0.1, momentum: 0.9)
        XCTAssertThrowsError(try sgd.loadStateDict(state)) { error in
            guard case .unknownKey(let key)? = error as? OptimizerStateError else { return XCTFail("got \(error)") }
            XCTAssertTrue(["state.0.0.exp_avg", "state.0.0.exp_avg_sq"].contains(key), key)
        }
        let wide = Tensor.zeros([3], requiresGrad: true)
        XCTAssertThrowsError(try Adam([ParameterGroup([wide])]).loadStateDict(state)) { error in
            guard case .shapeMismatch(let key, [3], [2])? = error as? OptimizerStateError else {
                return XCTFail("expected a shape mismatch, got \(error)")
            }
            XCTAssertTrue(key.hasPrefix("state.0.0."))
        }
        XCTAssertThrowsError(try Adam([]).loadStateDict(state)) { error in
            guard case .indexOutOfRange? = error as? OptimizerStateError else { return XCTFail("got \(error)") }
        }
        var noStep = state
        noStep["state.0.0.step"] = nil
        XCTAssertThrowsError(try Adam([ParameterGroup([w])]).loadStateDict(noStep)) { error in
            XCTAssertEqual(error as? OptimizerStateError, .missingKey("state.0.0.step"))
            XCTAssertTrue("\(error)".contains("state.0.0.step"))
        }
        // A step count is two whole base-2^24 digits; anything else (a damaged file) is refused, not converted.
        for digits in [[Float.nan, 0], [0, 2.5], [-1, 0], [0, Float(1 << 24)], [Float.infinity, 1]] {
            var damaged = state
            damaged["state.0.0.step"] = Tensor(digits, shape: [2])
            XCTAssertThrowsError(try Adam([ParameterGroup([w])]).loadStateDict(damaged), "\(digits)") { error in
                guard case .invalidValue(let key, _)? = error as? OptimizerStateError else { return XCTFail("got \(error)") }
                XCTAssertEqual(key, "state.0.0.step")
                XCTAssertTrue("\(error)".contains("not a step count"), "\(error)")
            }
        }
        var large = state
        large["state.0.0.step"] = Tensor([3, Float((1 << 24) - 1)], shape: [2])
        let resumed = Adam([ParameterGroup([w])])
        XCTAssertNoThrow(try resumed.loadStateDict(large))
        XCTAssertEqual(resumed.stepCount(group: 0, index: 0), 4 << 24 - 1)
    }

    // MARK: Per-step trajectories against PyTorch

    // Golden values come from torch 2.15 (CPU, float32), one script for every case below:
    //   W0 = [0.5, -1.2, 2.0, 0.05]
    //   G = [[1.0, -0.5, 0.25, 2.0], [-0.3, 0.8, 0.1, -1.5], [0.05, -0.02, 3.0, 0.4], [0.6, 0.6, -0.7, 0.01]]
    //   w = torch.tensor(W0, requires_grad=True); opt = torch.optim.<Name>([w], **kw)
    //   for g in G: w.grad = torch.tensor(g); opt.step(); print(w)      # one row per step
    // Each test gives `<Name>(**kw)`. The same run in float64 agrees with the float32 rows to ≤ 1.2e-6
    // relative, and a float32 re-implementation of the Swift loops agrees to ≤ 1.2e-7 absolute.
    private static let trajectoryStart: [Float] = [0.5, -1.2, 2.0, 0.05]
    private static let trajectoryGradients: [[Float]] = [
        [1.0, -0.5, 0.25, 2.0], [-0.3, 0.8, 0.1, -1.5], [0.05, -0.02, 3.0, 0.4], [0.6, 0.6, -0.7, 0.01],
    ]

    /// Sets the fixed gradient before each step and compares the parameter after every step.
    private func assertTrajectory(_ name: String, _ expected: [[Float]], file: StaticString = #filePath, line: UInt = #line,
                                  _ make: ([ParameterGroup]) -> Optimizer) {
        XCTAssertEqual(expected.count, Self.trajectoryGradients.count, name, file: file, line: line)
        let w = Tensor(Self.trajectoryStart, shape: [4], requiresGrad: true)
        let optimizer = make([ParameterGroup([w])])
        for (k, gradient) in Self.trajectoryGradients.enumerated() where k < expected.count {
            w.grad = Tensor(gradient, shape: [4])
            optimizer.step()
            assertClose(w.storage, expected[k], rtol: 2e-6, atol: 2e-7, "\(name) after step \(k + 1)", file: file, line: line)
        }
    }

    /// maximize with momentum: the gradient is negated before the decay and the buffer, as PyTorch does.
    func testSGDMaximizeWithMomentumTrajectoriesMatchPyTorch() {
        // SGD(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1, maximize=True)
        assertTrajectory("SGD dampened momentum L2 maximize", [
            [0.59500003, -1.238, 2.0050001, 0.24950001],
            [0.662525, -1.2260101, 2.0044751, 0.35280249],
            [0.72248489, -1.2100891, 2.1439803, 0.46401072],
            [0.80283636, -1.1597097, 2.223815, 0.56227809],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.1, maximize: true) }
        // SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)
        assertTrajectory("SGD Nesterov L2 maximize", [
            [0.68049997, -1.2722001, 2.0095, 0.42905],
            [0.68752044, -1.1268083, 1.9943695, 0.29749304],
            [0.72340047, -1.0617961, 2.5219445, 0.38830087],
            [0.85763562, -0.87745225, 2.5637944, 0.43122762],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.1, nesterov: true, maximize: true) }
    }

    /// Decoupled decay with momentum has no PyTorch counterpart; these rows are the documented formula
    /// (θ ← θ·(1 − λ), then the momentum step on the undecayed gradient) evaluated in float32 by numpy
    /// on the same start and gradients.
    func testDecoupledSGDWithMomentumFollowsItsFormula() {
        assertTrajectory("SGDW momentum", [
            [0.375, -1.09, 1.875, -0.1525],
            [0.29624999, -1.0705, 1.74875, -0.17487501],
            [0.22243749, -1.0464751, 1.3320625, -0.23313126],
            [0.098215595, -1.0807014, 1.0391343, -0.28277469],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.05, decoupledWeightDecay: true) }
        assertTrajectory("SGDW Nesterov", [
            [0.285, -1.045, 1.8525, -0.33249998],
            [0.24675, -1.10425, 1.7206249, -0.19287497],
            [0.17631249, -1.0735874, 1.0382686, -0.28353122],
            [0.0057068616, -1.1578031, 0.85266262, -0.32552463],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.05, nesterov: true, decoupledWeightDecay: true) }
    }

    /// β₂ = 0.5 lets the second moment shrink (v₂ < v₁ on elements 0 and 2, v₃ < v₂ on 0, 1 and 3), so the
    /// running maximum is used: plain Adam with the same settings ends up to 0.0485 away from the AMSGrad row 4.
    func testAdamAMSGradTrajectoriesMatchPyTorch() {
        // Adam(lr=0.1, betas=(0.8, 0.5), amsgrad=True)
        assertTrajectory("Adam AMSGrad", [
            [0.4, -1.1, 1.9, -0.05],
            [0.3659793, -1.1311173, 1.8183503, -0.053300492],
            [0.341582, -1.1497134, 1.7598637, -0.065923885],
            [0.2970517, -1.1942619, 1.7306433, -0.07478903],
        ]) { Adam($0, learningRate: 0.1, betas: (0.8, 0.5), amsgrad: true) }
        // Adam(lr=0.1, betas=(0.8, 0.5), weight_decay=0.1, amsgrad=True, maximize=True)
        assertTrajectory("Adam AMSGrad L2 maximize", [
            [0.6, -1.3000001, 2.1, 0.15],
            [0.628649, -1.2559999, 2.0587778, 0.1526624],
            [0.6461771, -1.2220378, 2.1118848, 0.16443586],
            [0.68431544, -1.1641862, 2.1331139, 0.17234989],
        ]) { Adam($0, learningRate: 0.1, betas: (0.8, 0.5), weightDecay: 0.1, amsgrad: true, maximize: true) }
        // AdamW(lr=0.1, betas=(0.8, 0.5), weight_decay=0.1, amsgrad=True)
        assertTrajectory("AdamW AMSGrad", [
            [0.395, -1.088, 1.88, -0.0505],
            [0.35702932, -1.1082374, 1.7795503, -0.053295493],
            [0.32906175, -1.115751, 1.7032683, -0.06538593],
            [0.28124082, -1.149142, 1.6570152, -0.07359722],
        ]) { AdamW($0, learningRate: 0.1, betas: (0.8, 0.5), weightDecay: 0.1, amsgrad: true) }
    }

    func testAdamAndAdamWMaximizeMatchPyTorch() {
        // Adam(lr=0.1, maximize=True)
        assertTrajectory("Adam maximize", [
            [0.59999996, -1.3000001, 2.1, 0.14999999],
            [0.64278483, -1.2723888, 2.1898575, 0.15893249],
            [0.6788785, -1.2524048, 2.2596872, 0.1758512],
            [0.7334734, -1.2073888, 2.30224, 0.1899397],
        ]) { Adam($0, learningRate: 0.1, maximize: true) }
        // AdamW(lr=0.1, weight_decay=0.1, maximize=True)
        assertTrajectory("AdamW maximize", [
            [0.59499997, -1.2880001, 2.08, 0.14949998],
            [0.63183486, -1.2475089, 2.1490576, 0.15693748],
            [0.6616102, -1.2150497, 2.1973968, 0.17228681],
            [0.709589, -1.1578832, 2.2179756, 0.18465243],
        ]) { AdamW($0, learningRate: 0.1, weightDecay: 0.1, maximize: true) }
    }

    /// Covers the three RMSprop loop variants besides (plain, no momentum), and `maximize`.
    func testRMSpropCenteredAndMomentumVariantsMatchPyTorch() {
        // RMSprop(lr=0.01, alpha=0.9, centered=True)
        assertTrajectory("RMSprop centred", [
            [0.46666667, -1.1666667, 1.9666667, 0.01666667],
            [0.4763795, -1.1940622, 1.9532661, 0.036293387],
            [0.47467324, -1.1933416, 1.9196738, 0.030840024],
            [0.45603424, -1.2124485, 1.9274365, 0.030696359],
        ]) { RMSprop($0, learningRate: 0.01, alpha: 0.9, centered: true) }
        // RMSprop(lr=0.01, alpha=0.9, momentum=0.8)
        assertTrajectory("RMSprop momentum", [
            [0.46837723, -1.1683773, 1.9683772, 0.018377224],
            [0.45261365, -1.1702799, 1.9307932, 0.012690617],
            [0.43833005, -1.1710854, 1.8692074, 0.0027105773],
            [0.409318, -1.1901498, 1.8274679, -0.005416566],
        ]) { RMSprop($0, learningRate: 0.01, alpha: 0.9, momentum: 0.8) }
        // RMSprop(lr=0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.1)
        assertTrajectory("RMSprop centred momentum weight decay", [
            [0.46666667, -1.1666667, 1.9666667, 0.01666667],
            [0.44797692, -1.1639903, 1.9200453, 0.0095837135],
            [0.4298797, -1.156869, 1.8490456, -0.0015431908],
            [0.39611298, -1.1674217, 1.7977375, -0.010586009],
        ]) { RMSprop($0, learningRate: 0.01, alpha: 0.9, weightDecay: 0.1, momentum: 0.8, centered: true) }
        // RMSprop(lr=0.01, alpha=0.9, maximize=True)
        assertTrajectory("RMSprop maximize", [
            [0.53162277, -1.2316228, 2.031623, 0.08162278],
            [0.52208817, -1.204422, 2.0439088, 0.062011167],
            [0.5237609, -1.2051386, 2.0754273, 0.067441925],
            [0.5413461, -1.1867185, 2.067898, 0.067585036],
        ]) { RMSprop($0, learningRate: 0.01, alpha: 0.9, maximize: true) }
    }

    func testAdagradOptionsMatchPyTorch() {
        // Adagrad(lr=0.1, lr_decay=0.5)
        assertTrajectory("Adagrad lr_decay", [
            [0.4, -1.1, 1.9, -0.05],
            [0.41915652, -1.1565332, 1.8752406, -0.009999998],
            [0.4167647, -1.1554735, 1.8254408, -0.017899524],
            [0.39685094, -1.1769363, 1.8344954, -0.018057514],
        ]) { Adagrad($0, learningRate: 0.1, learningRateDecay: 0.5) }
        // Adagrad(lr=0.1, weight_decay=0.2)
        assertTrajectory("Adagrad weight_decay", [
            [0.4, -1.1, 1.9, -0.05],
            [0.41961163, -1.1616882, 1.8405957, 0.01006363],
            [0.4077575, -1.1357672, 1.7433548, -0.005726712],
            [0.35610178, -1.1715338, 1.7534462, -0.006074505],
        ]) { Adagrad($0, learningRate: 0.1, weightDecay: 0.2) }
        // Adagrad(lr=0.1, initial_accumulator_value=0.5)
        assertTrajectory("Adagrad initial_accumulator_value", [
            [0.41835034, -1.142265, 1.9666667, -0.044280913],
            [0.4421419, -1.2101201, 1.9534503, 0.013454121],
            [0.43817973, -1.208424, 1.8564868, -0.0017625978],
            [0.39524037, -1.2537745, 1.8785539, -0.002143013],
        ]) { Adagrad($0, learningRate: 0.1, initialAccumulatorValue: 0.5) }
        // Adagrad(lr=0.1, lr_decay=0.5, weight_decay=0.2, initial_accumulator_value=0.5, maximize=True)
        assertTrajectory("Adagrad all options maximize", [
            [0.57863337, -1.2345107, 1.9792485, 0.14422818],
            [0.5558734, -1.1803992, 1.953996, 0.105135195],
            [0.5533647, -1.1721379, 2.001896, 0.11232744],
            [0.568263, -1.1506225, 1.9869119, 0.11213818],
        ]) {
            Adagrad($0, learningRate: 0.1, learningRateDecay: 0.5, weightDecay: 0.2, initialAccumulatorValue: 0.5,
                    maximize: true)
        }
    }

    /// Dampening scales the gradient entering the momentum buffer from the second step on (the first
    /// step seeds the buffer undamped). By hand for element 0 of the first case:
    /// b₁ = 1 → 0.5 − 0.1·1 = 0.4;  b₂ = 0.9·1 + 0.5·(−0.3) = 0.75 → 0.4 − 0.075 = 0.325.
    func testSGDDampeningMatchesPyTorch() {
        // SGD(lr=0.1, momentum=0.9, dampening=0.5)
        assertTrajectory("SGD dampening", [
            [0.4, -1.1500001, 1.975, -0.15],
            [0.32500002, -1.1450001, 1.9475, -0.255],
            [0.25500003, -1.1395001, 1.77275, -0.36949998],
            [0.16200003, -1.1645502, 1.650475, -0.47304997],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, dampening: 0.5) }
        // SGD(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1)
        assertTrajectory("SGD dampening weight decay", [
            [0.395, -1.138, 1.955, -0.15050001],
            [0.318735, -1.130234, 1.893815, -0.22489652],
            [0.24436536, -1.113933, 1.6154919, -0.3182791],
            [0.13372213, -1.1334645, 1.4026926, -0.40079546],
        ]) { SGD($0, learningRate: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.1) }
    }
}

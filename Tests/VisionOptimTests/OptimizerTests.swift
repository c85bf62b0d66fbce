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
    }
}

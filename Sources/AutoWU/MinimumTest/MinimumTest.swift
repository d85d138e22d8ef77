import Foundation

/// The end-of-epoch test of AutoWU (Sec. 2.1.2): does the minimum of the loss already lie in the past?
///
/// With N losses L_0..L_{N-1} at x_j = j / N ("now" is x = 1): fit the GP's hyper-parameters on a subset C0,
/// condition f on subsets C1..C_n, and let each vote with P_min(f_i) = max_{x in S, x < 1} P(f(x) < f(1)).
public struct MinimumTest<Solver: GaussianProcessSolver>: Sendable {
    public let settings: MinimumTestSettings
    public let solver: Solver
    let grid: [Double]

    public init(settings: MinimumTestSettings, solver: Solver) {
        self.settings = settings
        self.solver = solver
        self.grid = settings.grid
    }

    /// Runs the test on `losses` (any count, NaN/inf allowed). Moves the warm-started `fit` and the
    /// `sampler` forward, as the reference does from one test to the next.
    public func run(losses rawLosses: [Double], fit: inout HyperparameterFit, sampler: inout SubsetSampler) -> MinimumTestResult {
        var losses = rawLosses, outliers = 0, noiseDeviation: Double?, center = 0.0, scale = 1.0
        if settings.kind == .robust {
            let robust = RobustLosses(rawLosses, window: settings.outlierWindow, threshold: settings.outlierThreshold,
                                      targetNoiseVariance: settings.initialNoise)
            losses = robust.values
            outliers = robust.outliers
            noiseDeviation = robust.noiseDeviation
            (center, scale) = (robust.center, robust.scale)
        }
        let n = Double(losses.count)
        let finite = losses.indices.filter { losses[$0].isFinite }
        guard !finite.isEmpty else {
            // Nothing to smooth: no evidence of a minimum, and "now" is the best guess of where it is.
            return negative(finitePoints: 0, outliers: outliers, note: "no finite loss to test")
        }
        if settings.kind == .robust && finite.count < settings.minimumLosses {
            var result = negative(finitePoints: finite.count, outliers: outliers,
                                  note: "\(finite.count) usable losses: the robust test needs \(settings.minimumLosses) to estimate the noise")
            result.noiseDeviation = noiseDeviation
            return result
        }
        let x = { (indices: [Int]) in indices.map { Double($0) / n } }
        let y = { (indices: [Int]) in indices.map { losses[$0] } }

        let subsets = drawSubsets(finite: finite, sampler: &sampler)

        // Fit on C0, the constant reset to the mean of the finite losses first (as the reference does).
        let fitSubset = subsets.fit
        fit.parameters.constant = finite.reduce(0.0) { $0 + losses[$1] } / Double(finite.count)
        let objective = solver.marginalLogLikelihood(inputs: x(fitSubset), targets: y(fitSubset), lengthscale: settings.lengthscale)
        let (initialLoss, finalLoss) = fit.run(on: objective, steps: settings.fitSteps,
                                               lengthscale: settings.lengthscale, noiseFloor: settings.noiseFloor)
        let model = fit.parameters.model(lengthscale: settings.lengthscale, noiseFloor: settings.noiseFloor)
        guard fit.parameters.vector.allSatisfy(\.isFinite) else {
            // Losses of absurd magnitude (the paper's test takes them as they are) can overflow the fit. Its
            // state is reset so that the next epoch is tested from a sane start.
            fit = Self.initialFit(settings)
            return negative(finitePoints: finite.count, outliers: outliers,
                            note: "the GP fit did not converge (non-finite hyper-parameters); the fit was reset")
        }

        // Each of C1..C_n votes. With no more finite losses than |C_i| every subset is all of them: their
        // posterior is computed once (the same inputs give the same bits).
        var pMin: [Double] = [], argminX: [Double] = []
        var pool = PosteriorPool(gridCount: grid.count)
        var previous: (subset: [Int], posterior: GridPosterior, evidence: (pMin: Double, argminX: Double))?
        for subset in subsets.tests {
            let posterior: GridPosterior, evidence: (pMin: Double, argminX: Double)
            if let previous, previous.subset == subset {
                (posterior, evidence) = (previous.posterior, previous.evidence)
            } else {
                posterior = solver.posterior(inputs: x(subset), targets: y(subset), model: model, grid: grid)
                evidence = Self.minimumEvidence(posterior, grid: grid, jitter: settings.differenceJitter)
                previous = (subset, posterior, evidence)
            }
            pool.add(posterior)
            pMin.append(evidence.pMin)
            argminX.append(evidence.argminX)
        }
        guard pMin.allSatisfy(\.isFinite), argminX.allSatisfy(\.isFinite) else {
            fit = Self.initialFit(settings)
            return negative(finitePoints: finite.count, outliers: outliers,
                            note: "the GP posterior is not finite; the fit was reset")
        }
        let votes = pMin.filter { $0 > settings.confidence }.count
        return MinimumTestResult(pMin: pMin, argminX: argminX, votes: votes,
                                 positive: 2 * votes > settings.testCount, finitePoints: finite.count,
                                 model: model, fitLoss: [initialLoss, finalLoss], outliers: outliers,
                                 noiseDeviation: noiseDeviation,
                                 posterior: pool.posterior(grid: grid, n: n, center: center, scale: scale))
    }

    /// The fit's state before a job's first test (the reference's starting point).
    public static func initialFit(_ settings: MinimumTestSettings) -> HyperparameterFit {
        HyperparameterFit(
            parameters: RawHyperparameters(constant: 0, initialNoise: settings.initialNoise, noiseFloor: settings.noiseFloor),
            optimizer: AdamOptimizer(dimension: 3, learningRate: settings.fitLearningRate))
    }

    /// A negative test that votes nothing and puts the minimum at "now".
    func negative(finitePoints: Int, outliers: Int, note: String) -> MinimumTestResult {
        MinimumTestResult(pMin: Array(repeating: 0, count: settings.testCount),
                          argminX: Array(repeating: 1, count: settings.testCount), votes: 0, positive: false,
                          finitePoints: finitePoints, model: nil, fitLoss: [], outliers: outliers, note: note)
    }

    /// C0 (the fit's points) and C1..C_n (the posteriors'), as indices into the losses, in the order the
    /// generator draws them.
    public func drawSubsets(finite: [Int], sampler: inout SubsetSampler) -> (fit: [Int], tests: [[Int]]) {
        func draw(_ size: Int) -> [Int] {
            settings.kind == .robust ? sampler.keyedSubset(of: finite, size: size) : sampler.sortedSubset(of: finite, size: size)
        }
        let fit = draw(settings.fitSubsetSize)
        let tests = (0..<settings.testCount).map { _ in draw(settings.testSubsetSize) }
        return (fit, tests)
    }

    /// P_min of Eq. 4 and the argmin of the posterior mean over the grid.
    static func minimumEvidence(_ posterior: GridPosterior, grid: [Double], jitter: Double) -> (pMin: Double, argminX: Double) {
        let last = grid.count - 1
        let mean = posterior.mean, variance = posterior.variance, covariance = posterior.covarianceWithLast
        var bestZ = -Double.infinity
        for j in 0..<last {
            let spread = (variance[j] + variance[last] - 2 * covariance[j] + jitter).squareRoot()
            bestZ = max(bestZ, (mean[last] - mean[j]) / spread)
        }
        var argmin = 0
        for j in 1...last where mean[j] < mean[argmin] { argmin = j }
        // Phi is increasing: the max over x of Phi(z_x) is Phi(max z_x).
        return (0.5 * erfc(-bestZ / 2.0.squareRoot()), grid[argmin])
    }
}

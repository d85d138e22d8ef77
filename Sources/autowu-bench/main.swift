import AutoWU
import Foundation

// autowu-bench: the time of one complete minimum test (fit on C0 + 5 posteriors + P_min) per solver, at the
// paper's sizes (fit 100 points, 5 x 500) and at 2x, 4x and 8x as many points, BLAS on one thread; the same
// test by a dense NumPy/SciPy implementation (bench/numpy_gp_test.py) on the same data; the ratios. The last
// line is one JSON object. Each solver is measured in a child process of its own, so that its peak memory is
// its own.
//
//   swift run -c release autowu-bench [--quick]
//   swift run -c release autowu-bench --verdict [--quick]   (one verdict's CPU in the daemon, part by part)

let arguments = CommandLine.arguments
let scales = [1, 2, 4, 8]

/// A noisy parabola in log(LR) with its minimum at 80 % of the run: enough finite points (4200) for 8x.
func benchmarkLosses() -> [Double] {
    var random = SubsetSampler(seed: 2024)
    return (0..<4200).map { i in
        let x = Double(i) / 4200
        // Box-Muller on the generator's uniform doubles.
        let u = max(Double(random.nextUniformBits() >> 11) / Double(1 << 53), 1e-300)
        let v = Double(random.nextUniformBits() >> 11) / Double(1 << 53)
        return 1 + 2 * (x - 0.8) * (x - 0.8) + 0.05 * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// The paper's test (raw losses, as bench/numpy_gp_test.py computes it); the robust test's filter is in
/// `--verdict`'s figures.
func settings(scale: Int) -> MinimumTestSettings {
    var settings = MinimumTestSettings.paper
    settings.fitSubsetSize = 100 * scale
    settings.testSubsetSize = 500 * scale
    return settings
}

func freshFit(_ settings: MinimumTestSettings) -> HyperparameterFit {
    HyperparameterFit(parameters: RawHyperparameters(constant: 0, initialNoise: settings.initialNoise, noiseFloor: settings.noiseFloor),
                      optimizer: AdamOptimizer(dimension: 3, learningRate: settings.fitLearningRate))
}

struct Measurement: Codable {
    var solver: String
    var scale: Int
    var repetitions: Int
    var median_us: Double
    var p99_us: Double
    var peak_rss_kb: Int
    var p_min: [Double]
    var argmin_x: [Double]
}

func percentile(_ sorted: [Double], _ q: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.down)))]
}

func peakResidentKilobytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

/// The child: run one solver at one scale `repetitions` times on identical inputs.
func measure<Solver: GaussianProcessSolver>(_ solver: Solver, name: String, scale: Int, repetitions: Int) -> Measurement {
    let losses = benchmarkLosses()
    let test = MinimumTest(settings: settings(scale: scale), solver: solver)
    var times: [Double] = []
    var last: MinimumTestResult?
    for _ in 0..<repetitions {
        var fit = freshFit(test.settings)
        var sampler = SubsetSampler(seed: 7)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = test.run(losses: losses, fit: &fit, sampler: &sampler)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
        last = result
    }
    times.sort()
    return Measurement(solver: name, scale: scale, repetitions: repetitions, median_us: percentile(times, 0.5),
                       p99_us: percentile(times, 0.99), peak_rss_kb: peakResidentKilobytes(),
                       p_min: last?.pMin ?? [], argmin_x: last?.argminX ?? [])
}

func runChild(_ childArguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = childArguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return data
}

if arguments.count >= 5, arguments[1] == "--child" {
    let scale = Int(arguments[3])!, repetitions = Int(arguments[4])!
    let measurement = arguments[2] == "fast"
        ? measure(LowRankSolver(), name: "fast", scale: scale, repetitions: repetitions)
        : measure(DenseCholeskySolver(), name: "exact", scale: scale, repetitions: repetitions)
    FileHandle.standardOutput.write(try JSONEncoder().encode(measurement))
    exit(0)
}

let quick = arguments.contains("--quick")
setenv("OPENBLAS_NUM_THREADS", "1", 1)
if arguments.contains("--verdict") {
    try VerdictCost.report(quick: quick)
    exit(0)
}
var measurements: [String: [Int: Measurement]] = ["fast": [:], "exact": [:]]
print("one complete minimum test (fit + 5 posteriors + P_min), release build, BLAS on one thread")
print("solver   fit/test points   median us     p99 us   peak RSS MB   repetitions")
for scale in scales {
    for solver in ["fast", "exact"] {
        // The dense solver is cubic: 8x (4000 points per posterior) takes seconds per test; skip it.
        if solver == "exact", scale == 8 { continue }
        let repetitions = solver == "fast" ? (quick ? 50 : 400) : (quick ? 3 : [1: 40, 2: 10, 4: 3][scale]!)
        let data = try runChild(["--child", solver, "\(scale)", "\(repetitions)"])
        let m = try JSONDecoder().decode(Measurement.self, from: data)
        measurements[solver]![scale] = m
        print(String(format: "%-8@ %8d/%-8d %11.1f %10.1f %13.1f   %d", solver as NSString, 100 * scale, 500 * scale,
                     m.median_us, m.p99_us, Double(m.peak_rss_kb) / 1024, repetitions))
    }
}

// The NumPy/SciPy dense implementation on the same data and subsets, at the paper's sizes.
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("bench/numpy_gp_test.py").path
let paper = settings(scale: 1)
let losses = benchmarkLosses()
let finite = Array(losses.indices)
var sampler = SubsetSampler(seed: 7)
let subsets = MinimumTest(settings: paper, solver: DenseCholeskySolver()).drawSubsets(finite: finite, sampler: &sampler)
let x = { (indices: [Int]) in indices.map { Double($0) / Double(losses.count) } }
let y = { (indices: [Int]) in indices.map { losses[$0] } }
let fit = freshFit(paper)
var start = fit.parameters
start.constant = losses.reduce(0, +) / Double(losses.count)
let request: [String: Any] = [
    "lengthscale": paper.lengthscale, "noise_floor": paper.noiseFloor, "confidence": paper.confidence,
    "grid_size": paper.gridSize, "pmin_jitter": paper.differenceJitter, "repetitions": quick ? 3 : 20,
    "adam": ["lr": paper.fitLearningRate, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "steps": paper.fitSteps],
    "cases": [[
        "fit": ["x": x(subsets.fit), "y": y(subsets.fit)],
        "params": start.vector,
        "adam_state": ["step": 0, "m": [0.0, 0.0, 0.0], "v": [0.0, 0.0, 0.0]],
        "tests": subsets.tests.map { ["x": x($0), "y": y($0)] },
    ]],
]
var numpyMedian: Double?
var numpyLine = "numpy    (not run: python3 with numpy and scipy is needed)"
do {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script]
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment["OMP_NUM_THREADS"] = "1"
    process.environment = environment
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: request))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus == 0, let reply = try JSONSerialization.jsonObject(with: data) as? [String: Any],
       let timing = reply["timing_us"] as? [String: Any], let median = timing["median"] as? Double, let p99 = timing["p99"] as? Double {
        numpyMedian = median
        let peak = (reply["peak_rss_kb"] as? Int).map { String(format: "%13.1f", Double($0) / 1024) } ?? "            -"
        numpyLine = String(format: "%-8@ %8d/%-8d %11.1f %10.1f %@   %d", "numpy" as NSString, 100, 500, median, p99, peak as NSString,
                           (timing["samples"] as? Int) ?? 0)
        if let results = reply["results"] as? [[String: Any]], let pMin = results.first?["p_min"] as? [Double],
           let exact = measurements["exact"]?[1] {
            let difference = zip(pMin, exact.p_min).map { abs($0 - $1) }.max() ?? .nan
            numpyLine += String(format: "\n(NumPy's P_min vs the exact solver's: max difference %.1e)", difference)
        }
    }
} catch {
    numpyLine = "numpy    (failed: \(error))"
}
print(numpyLine)

let fast1 = measurements["fast"]![1]!, exact1 = measurements["exact"]![1]!
let fastVsExact = zip(fast1.p_min, exact1.p_min).map { abs($0 - $1) }.max() ?? .nan
print(String(format: "exact / fast = %.1f x, numpy / fast = %@; fast vs exact: max |P_min difference| %.1e",
             exact1.median_us / fast1.median_us,
             numpyMedian.map { String(format: "%.1f x", $0 / fast1.median_us) } ?? "n/a", fastVsExact))
let scaling = scales.map { measurements["fast"]![$0]!.median_us }
print(String(format: "fast scaling, median us at 1x 2x 4x 8x: %@ (8x / 1x = %.2f)",
             scaling.map { String(format: "%.1f", $0) }.joined(separator: " "), scaling[3] / scaling[0]))
var summary: [String: Any] = [
    "fast_median_us": fast1.median_us, "fast_p99_us": fast1.p99_us, "exact_median_us": exact1.median_us,
    "exact_p99_us": exact1.p99_us, "scaling": scaling, "fast_peak_rss_kb": fast1.peak_rss_kb,
    "exact_peak_rss_kb": exact1.peak_rss_kb, "fast_exact_max_pmin_difference": fastVsExact,
]
if let numpyMedian {
    summary["numpy_median_us"] = numpyMedian
    summary["numpy_over_fast"] = numpyMedian / fast1.median_us
}
print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))

import Foundation

/// k(x, x') = outputscale * exp(-(x - x')^2 / (2 l^2)), with the lengthscale l fixed (0.2 in the paper, so
/// the smoother cannot chase local bumps).
public struct SquaredExponentialKernel: Sendable, Equatable, Codable {
    public let lengthscale: Double
    /// sigma_f^2.
    public var outputscale: Double

    public init(lengthscale: Double, outputscale: Double) {
        self.lengthscale = lengthscale
        self.outputscale = outputscale
    }

    /// exp(-(x - x')^2 / (2 l^2)): the kernel without its scale. Solvers work with this unit-scale matrix so
    /// that it does not change while the outputscale is being fitted.
    @inline(__always)
    public func correlation(_ x: Double, _ y: Double) -> Double {
        let d = (x - y) / lengthscale
        return exp(-0.5 * d * d)
    }

    @inline(__always)
    public func callAsFunction(_ x: Double, _ y: Double) -> Double {
        outputscale * correlation(x, y)
    }
}

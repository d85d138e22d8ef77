/// Homoskedastic Gaussian observation noise: L = f(x) + eps, eps ~ N(0, noise).
public struct GaussianLikelihood: Sendable, Equatable, Codable {
    /// sigma_n^2, the noise variance.
    public var noise: Double
    public init(noise: Double) { self.noise = noise }
}

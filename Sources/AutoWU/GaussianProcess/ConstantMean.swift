/// The GP's prior mean: one constant theta for every input.
public struct ConstantMean: Sendable, Equatable, Codable {
    public var constant: Double
    public init(constant: Double) { self.constant = constant }
}

/// The solvers autowu ships, by the name users pick on the command line and in job parameters.
public enum SolverKind: String, Sendable, Codable, CaseIterable {
    /// Dense Cholesky: the reference.
    case exact
}

extension WarmupController {
    /// `endEpoch` with the solver chosen by name.
    public mutating func endEpoch(_ epochLosses: [Double], solver: SolverKind) throws -> EpochVerdict {
        switch solver {
        case .exact: return try endEpoch(epochLosses, solver: DenseCholeskySolver())
        }
    }
}

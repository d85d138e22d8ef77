/// The solvers autowu ships, by the name users pick on the command line and in job parameters.
public enum SolverKind: String, Sendable, Codable, CaseIterable {
    /// Dense Cholesky: the reference.
    case exact
    /// Low-rank kernel features (`LowRankSolver`): the reference's answers (losses to ~1e-9 relative,
    /// P_min to ~1e-6, the same votes) at a small fraction of its cost, linear in the number of points.
    case fast
}

extension WarmupController {
    /// `endEpoch` with the solver chosen by name.
    public mutating func endEpoch(_ epochLosses: [Double], solver: SolverKind) throws -> EpochVerdict {
        switch solver {
        case .exact: return try endEpoch(epochLosses, solver: DenseCholeskySolver())
        case .fast: return try endEpoch(epochLosses, solver: LowRankSolver())
        }
    }
}

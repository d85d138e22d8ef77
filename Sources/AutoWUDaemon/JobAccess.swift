import AutoWUStore

/// Who may act on one job. Holders of its token may do what a rank does (register, report, wait, read,
/// expire); its owner, a uid proven by a MUNGE credential, and the daemon's admins may too, without the token.
/// A job with neither is anonymous (registered under `--allow-anonymous`): anyone who reaches the daemon may.
struct JobAccess: Sendable, Equatable {
    /// `TokenHash` digest; "" when the job has no token.
    var tokenHash: String
    var ownerUID: UInt32?

    static let anonymous = JobAccess(tokenHash: "", ownerUID: nil)

    var isAnonymous: Bool { tokenHash.isEmpty && ownerUID == nil }
}

extension StoredJob {
    var access: JobAccess { JobAccess(tokenHash: tokenHash, ownerUID: ownerUID) }
}

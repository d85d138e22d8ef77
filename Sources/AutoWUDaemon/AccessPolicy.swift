import AutoWUProtocol
import Munge

/// Who may do what with a job (protocol/SPEC.md section 3). By default every job needs a token or a MUNGE
/// credential; anonymous jobs exist only on a daemon started with `--allow-anonymous`, for development on
/// loopback. A job id `u<uid>:...` is reserved to that uid: only a MUNGE credential of it (or an admin's)
/// creates it, so a neighbour who knows a job's name cannot register it first and lock its ranks out.
struct AccessPolicy: Sendable {
    /// Who sent a request: the token it carries and, when it carried a MUNGE credential, the uid proven.
    struct Caller: Sendable {
        var token: String
        var uid: UInt32?
    }

    var allowAnonymous = false
    /// Uids that may read and expire every job (the daemon's own user is always one).
    var adminUIDs: Set<UInt32> = []
    /// munged's socket; nil: libmunge's default.
    var mungeSocket: String?

    /// The caller of a request. A credential must be MUNGE's, valid, fresh, and carry `payload` (the request's
    /// job id), so that one captured for one job cannot act on another.
    func caller(token: String, credential: String, payload: String) throws(ProtocolError) -> Caller {
        guard !credential.isEmpty else { return Caller(token: token, uid: nil) }
        let identity: Munge.Identity
        do {
            identity = try Munge.decode(credential, socket: mungeSocket)
        } catch {
            // The daemon's own MUNGE may be what fails: a token works meanwhile.
            let ownSide = error.code == 6 || error.code == 7 || error.code == -1
            throw ProtocolError(.errorUnauthorized, "the MUNGE credential was refused: \(error.message)"
                + (error.hint.map { " (\($0))" } ?? "")
                + (ownSide ? "; this is the daemon's MUNGE, not yours: give the job a token (AUTOWU_TOKEN) meanwhile" : ""))
        }
        guard identity.payload == payload else {
            throw ProtocolError(.errorUnauthorized, "the MUNGE credential was made for \"\(identity.payload.prefix(140))\", not for \"\(payload)\": make one whose payload is the request's job id")
        }
        return Caller(token: token, uid: identity.uid)
    }

    func isAdmin(_ caller: Caller) -> Bool {
        caller.uid.map(adminUIDs.contains) ?? false
    }

    /// Whether `caller` may act on a job with `access`; `tokenMatches`: the caller's token is the job's.
    func permits(_ caller: Caller, _ access: JobAccess, tokenMatches: Bool) -> Bool {
        if access.isAnonymous || isAdmin(caller) { return true }
        if !access.tokenHash.isEmpty, !caller.token.isEmpty, tokenMatches { return true }
        if let owner = access.ownerUID, caller.uid == owner { return true }
        return false
    }

    /// What `caller` is told when it may not act on job `jobID`; `credentials`: the request could carry a
    /// MUNGE credential (a snapshot cannot).
    func refusal(jobID: String, _ access: JobAccess, _ caller: Caller, credentials: Bool = true) -> ProtocolError {
        var ways: [String] = []
        if !access.tokenHash.isEmpty { ways.append(caller.token.isEmpty ? "its token (AUTOWU_TOKEN)" : "its token (this one does not match)") }
        if credentials, let owner = access.ownerUID {
            ways.append(caller.uid.map { "a MUNGE credential of its owner, uid \(owner) (this one is uid \($0))" }
                ?? "a MUNGE credential of its owner, uid \(owner)")
        }
        return ProtocolError(.errorUnauthorized, "job \"\(jobID)\" is not yours: it takes \(ways.joined(separator: " or "))")
    }

    /// The uid a job id is reserved to (`u<uid>:...`), if it is one.
    static func reservedOwner(of jobID: String) -> UInt32? {
        guard jobID.hasPrefix("u"), let colon = jobID.firstIndex(of: ":") else { return nil }
        let digits = jobID[jobID.index(after: jobID.startIndex) ..< colon]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return UInt32(digits)
    }

    /// The access of a job `jobID` that `caller` registers now; `mint` makes the token of a job whose first
    /// rank proved its uid and brought no token.
    func accessForNewJob(_ jobID: String, caller: Caller, mint: () -> String) throws(ProtocolError) -> (access: JobAccess, token: String?) {
        if let reserved = Self.reservedOwner(of: jobID), caller.uid != reserved, !isAdmin(caller) {
            throw ProtocolError(.errorUnauthorized, "job ids starting \"u\(reserved):\" belong to uid \(reserved): register it with a MUNGE credential of that uid"
                + (caller.uid.map { " (this one is uid \($0))" } ?? ""))
        }
        if let uid = caller.uid {
            let token = caller.token.isEmpty ? mint() : caller.token
            return (JobAccess(tokenHash: TokenHash.digest(token), ownerUID: Self.reservedOwner(of: jobID) ?? uid), token)
        }
        if !caller.token.isEmpty { return (JobAccess(tokenHash: TokenHash.digest(caller.token), ownerUID: nil), nil) }
        guard allowAnonymous else {
            throw ProtocolError(.errorUnauthorized, "job \"\(jobID)\" brings no token and no MUNGE credential, and this daemon takes no anonymous jobs: "
                + "give its ranks a shared secret (AUTOWU_TOKEN; `autowu token` makes one) or, on a Slurm cluster, a MUNGE credential (AUTOWU_AUTH=munge); "
                + "for development on loopback only, start autowud with --allow-anonymous")
        }
        return (.anonymous, nil)
    }
}

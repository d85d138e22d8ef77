import AutoWUProtocol

/// A job whose stored record cannot be read back (its spec, controller or state does not decode). It is
/// never dropped silently: its record stays in the store untouched, its ranks and status requests get
/// `error`, it is counted in `jobs.broken`, and its owner (the job's token, or its owner's MUNGE credential) can expire it to start anew.
struct BrokenJob {
    let id: String
    let access: JobAccess
    /// What did not decode, and why.
    let reason: String

    var error: ProtocolError {
        ProtocolError(.errorInternal, "job \"\(id)\" is broken in the store: \(reason); the daemon left its record "
            + "untouched and cannot go on with it: expire the job (ExpireJob with its token or its owner's MUNGE credential) to register it anew, "
            + "or restore the store from a backup")
    }
}

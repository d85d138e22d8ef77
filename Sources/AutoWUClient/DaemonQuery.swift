import AutoWUProtocol
import Dispatch
import Munge
import ZeroMQ

/// One-off control requests (`autowu jobs`, `autowu top`) without joining a job.
public enum DaemonQuery {
    public static func request(_ body: Autowu_V1_Request.OneOf_Body, endpoints: DaemonEndpoints, timeoutSeconds: Double = 5) throws -> Autowu_V1_Reply {
        try request(making: { _ in body }, endpoints: endpoints, timeoutSeconds: timeoutSeconds)
    }

    /// `Status` of `jobID` ("": every job the caller may read), proving who asks the ways there are: `token`
    /// (a job's), and a MUNGE credential of this process's uid wherever munged answers (owners and admins).
    public static func status(jobID: String = "", token: String, endpoints: DaemonEndpoints, timeoutSeconds: Double = 5) throws -> Autowu_V1_Reply {
        try request(making: { credential in
            .status(.with {
                $0.jobID = jobID
                $0.token = token
                $0.mungeCredential = credential(jobID)
            })
        }, endpoints: endpoints, timeoutSeconds: timeoutSeconds)
    }

    /// A fresh MUNGE credential for `payload`, or "" where MUNGE cannot make one (the request then relies on tokens).
    public static func mungeCredential(_ payload: String) -> String {
        (try? Munge.encode(payload: payload)) ?? ""
    }

    /// Sends the body `making` makes for each attempt; it gets `mungeCredential` to make a credential with.
    private static func request(making: (_ credential: (String) -> String) throws -> Autowu_V1_Request.OneOf_Body,
                                endpoints: DaemonEndpoints, timeoutSeconds: Double) throws -> Autowu_V1_Reply {
        let context = try ZMQContext()
        defer { context.close() }
        let channel = try ControlChannel(context: context, endpoint: endpoints.control, serverKey: endpoints.serverKey,
                                         attemptTimeoutMilliseconds: 1_000)
        defer { channel.close() }
        return try channel.request(making: { try making(mungeCredential) }, deadline: .now() + .milliseconds(Int(timeoutSeconds * 1000)))
    }
}

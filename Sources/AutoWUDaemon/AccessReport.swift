import Foundation
import Logging
import Munge

/// What a starting daemon says about who can reach it and how jobs prove who they are: loudly, when
/// tokens and losses would cross a network in clear.
public enum AccessReport {
    public static func log(_ configuration: DaemonConfiguration, logger: Logger) {
        let exposed = EndpointReach.exposed([configuration.controlEndpoint, configuration.ingestEndpoint, configuration.eventsEndpoint])
        if !exposed.isEmpty, configuration.curveSecretKey == nil {
            logger.warning("""
                WARNING: \(exposed.joined(separator: ", ")) can be reached from other hosts and CURVE is off: job tokens, \
                losses and plans cross the network in clear, so anyone on it can read them and act on those jobs. \
                Start autowud with --curve-secret-key-file (make keys with `autowu keygen`) and give ranks AUTOWU_SERVER_KEY.
                """)
        }
        if configuration.allowAnonymous {
            logger.warning("anonymous jobs allowed (--allow-anonymous): anyone who reaches the sockets may act on a job without a token")
        }
        if let reason = Munge.probe(socket: configuration.mungeSocket) {
            logger.warning("MUNGE credentials cannot be checked, so jobs need tokens (ranks that send credentials are refused)", metadata: ["reason": "\(reason)"])
        } else {
            logger.info("MUNGE credentials are checked: a job registered with one belongs to its uid",
                        metadata: ["admins": "\(configuration.adminUIDs.union([UInt32(geteuid())]).sorted())"])
        }
    }
}

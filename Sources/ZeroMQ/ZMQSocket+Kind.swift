import CZMQ

extension ZMQSocket {
    /// The messaging pattern of a socket, fixed when it is created.
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// Publishes to every matching subscriber; drops messages for slow ones.
        case pub
        /// Receives what PUB sockets publish, filtered by `subscribe(to:)`.
        case sub
        /// Prefixes each received message with the sender's routing id, and
        /// routes each sent message by its first frame.
        case router
        /// Load-balances outgoing messages over its peers; fair-queues incoming.
        case dealer
        /// Feeds a pipeline: load-balances messages over PULL peers.
        case push
        /// Drains a pipeline: fair-queues messages from PUSH peers.
        case pull
        /// One-to-one, typically between two threads over `inproc://`.
        case pair
        /// Strict request-reply client: send, then receive, then send...
        case req
        /// Strict request-reply server: receive, then send, then receive...
        case rep

        var zmqType: Int32 {
            switch self {
            case .pub: ZMQ_PUB
            case .sub: ZMQ_SUB
            case .router: ZMQ_ROUTER
            case .dealer: ZMQ_DEALER
            case .push: ZMQ_PUSH
            case .pull: ZMQ_PULL
            case .pair: ZMQ_PAIR
            case .req: ZMQ_REQ
            case .rep: ZMQ_REP
            }
        }
    }
}

import ServiceLifecycle

/// Tells systemd `STOPPING=1` as soon as a graceful shutdown begins. Listed after the daemon in the
/// `ServiceGroup`, which shuts services down in reverse order: the notice goes out before the I/O loop
/// starts draining tests and checkpointing the store, so `systemctl status` says "deactivating" meanwhile.
public struct StoppingNotice: Service {
    private let notifier: SystemdNotifier

    public init(notifier: SystemdNotifier) {
        self.notifier = notifier
    }

    public func run() async throws {
        // Thrown on cancellation: the group is failing, not stopping on request; nothing to announce.
        try await gracefulShutdown()
        notifier.stopping()
    }
}

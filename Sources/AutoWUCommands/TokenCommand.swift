import ArgumentParser
import Foundation

/// `autowu token`: a job secret for launchers that have no MUNGE (`export AUTOWU_TOKEN=$(autowu token)`).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a new random job token (a secret shared by a job's ranks).",
        discussion: """
            autowud takes a job only with a token or a MUNGE credential (unless started with --allow-anonymous). \
            The first registration fixes the job's token; every rank must carry the same one:
              export AUTOWU_TOKEN="$(autowu token)"    # in the launcher, before srun/torchrun starts the ranks
            A requeued job must present the same token again (keep it with the job's files, mode 0600).
            """)

    func run() throws {
        print(Self.newToken())
    }

    /// 192 random bits as 48 hex digits, from the system's generator.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
    }
}

import ArgumentParser
import Foundation
import ZeroMQ

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair for autowud: the secret key file for the daemon, the public key for its clients.",
        discussion: """
            Writes DIR/NAME.key (the secret key, mode 0600) and DIR/NAME.key.pub (the public key, 0644), one line of \
            40 Z85 characters each, and prints the public key on stdout (the secret only with --print-secret). Then:
              autowud --curve-secret-key-file DIR/NAME.key ...
              export AUTOWU_SERVER_KEY="$(cat DIR/NAME.key.pub)"    # quoted: Z85 has shell characters; for every client: ranks, autowu jobs/simulate
            The daemon refuses a .pub file, or a secret key whose .pub beside it does not match.
            """)

    @Option(help: "Directory of the key files (created if missing).")
    var outDir = "."

    @Option(help: "Base name of the key files.")
    var name = "autowud"

    @Flag(help: "Also print the secret key on stdout (second line), e.g. for a secret store; it is in the file anyway.")
    var printSecret = false

    @Flag(help: "Replace existing key files (clients holding the old public key then fail their handshake).")
    var force = false

    func run() throws {
        let secretPath = (outDir as NSString).appendingPathComponent(name + ".key")
        do {
            try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
            let keys = try CurveKeyPair.generate()
            try CurveKeyFile.write(keys, secretKeyPath: secretPath, overwrite: force)
            print(keys.publicKey)
            if printSecret { print(keys.secretKey) }
            let publicPath = CurveKeyFile.publicKeyPath(forSecretKeyPath: secretPath)
            FileHandle.standardError.write(Data("""
                wrote \(secretPath) (secret key, mode 0600) and \(publicPath) (public key)
                daemon:  autowud --curve-secret-key-file \(secretPath)
                clients: export AUTOWU_SERVER_KEY='\(keys.publicKey)'

                """.utf8))
        } catch {
            throw CommandFailure(message: "error: \(error)")
        }
    }
}

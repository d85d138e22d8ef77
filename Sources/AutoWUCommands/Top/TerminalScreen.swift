import Foundation

/// The terminal `autowu top` draws on, with plain ANSI sequences: the alternate screen, a hidden cursor,
/// and the keyboard in non-canonical mode so that 'q' arrives without Enter. `restore()` undoes all of it
/// and is safe to call more than once.
final class TerminalScreen {
    private let output: Int32
    private let keyboard: Int32?
    private var savedMode: termios?
    private var active = true

    /// Takes over `output` (a terminal); `keyboard`, when a terminal too, is switched to non-canonical,
    /// no-echo mode. Signals (Ctrl-C) stay on: they stop the view, which then restores the terminal.
    init(output: Int32 = STDOUT_FILENO, keyboard: Int32? = STDIN_FILENO) {
        self.output = output
        if let keyboard, isatty(keyboard) == 1 {
            var mode = termios()
            if tcgetattr(keyboard, &mode) == 0 {
                savedMode = mode
                mode.c_lflag &= ~tcflag_t(ICANON | ECHO)
                tcsetattr(keyboard, TCSANOW, &mode)
            }
            self.keyboard = keyboard
        } else {
            self.keyboard = nil
        }
        write("\u{1B}[?1049h\u{1B}[?25l")  // alternate screen, cursor hidden
    }

    deinit { restore() }

    /// The keyboard descriptor to watch for 'q', when there is one.
    var keyboardDescriptor: Int32? { keyboard }

    /// Clears the screen and draws `lines` from the top left; no newline after the last line, so that a
    /// frame as tall as the terminal does not scroll it.
    func draw(_ lines: [String]) {
        write("\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\r\n"))
    }

    func restore() {
        guard active else { return }
        active = false
        write("\u{1B}[?25h\u{1B}[?1049l")  // cursor shown, main screen back
        if let keyboard, var mode = savedMode { tcsetattr(keyboard, TCSANOW, &mode) }
    }

    /// The size of the terminal at `descriptor` (TIOCGWINSZ), or 80x24 when it does not say.
    static func size(of descriptor: Int32 = STDOUT_FILENO) -> (width: Int, height: Int) {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(output, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

"""Console entry points of the platform wheel: ``autowud`` and ``autowu`` run the release binaries bundled
under ``autowu/_bin/`` (scripts/build-wheel puts them there and declares these entry points; a source
install of the client has neither)."""

import os
import sys
from pathlib import Path

BIN = Path(__file__).parent / "_bin"


def _exec(name):
    binary = BIN / name
    if not os.access(binary, os.X_OK):
        sys.exit(
            f"{name}: this autowu installation has no bundled {name} ({binary} is missing); install the "
            "platform wheel (scripts/build-wheel) or build it from source with `swift build -c release`"
        )
    os.execv(binary, [str(binary), *sys.argv[1:]])


def autowud():
    _exec("autowud")


def autowu():
    _exec("autowu")

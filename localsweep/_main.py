"""The ``localsweep`` command's entry point: Ctrl-C is taken care of before anything heavy
is imported, so an early one ends in ``Interrupted.`` (exit 130), not a traceback from
inside an import, and a swallowed one is still seen (see :mod:`localsweep._interrupt`)."""

from __future__ import annotations

import sys

from localsweep import _interrupt


def main() -> None:
    _interrupt.install()
    try:
        from localsweep.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()

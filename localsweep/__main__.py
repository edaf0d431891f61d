"""``python -m localsweep``: the ``localsweep`` command, for jobs that name the Python to use."""

from __future__ import annotations

from localsweep._main import main

if __name__ == "__main__":
    main()

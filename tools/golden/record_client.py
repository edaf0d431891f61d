"""wandb 0.31's client-side sweep config check, for ``record_engine.py``.

Reads a JSON list of sweep configs on stdin and writes a JSON list on stdout: for each
config, ``null`` if ``wandb.apis.public.sweeps._validate_config_and_fill_distribution``
accepts it, else the message of the ``ValueError`` it raises. Any other exception is
recorded as ``"EXCEPTION <type>: <message>"``: the client would crash on that config,
which rejects it just as surely.

It runs in the project's interpreter (which has wandb), not the engine's venv.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import wandb
from wandb.apis.public.sweeps import _validate_config_and_fill_distribution


def verdict(config: Any) -> str | None:
    try:
        _validate_config_and_fill_distribution(config)
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # a crash is recorded as a rejection too
        return f"EXCEPTION {type(exc).__name__}: {exc}"
    return None


def main() -> None:
    if wandb.__version__ != "0.31.0":
        sys.exit(f"expected wandb 0.31.0, found {wandb.__version__}")
    configs = json.load(sys.stdin)
    json.dump([verdict(c) for c in configs], sys.stdout)


if __name__ == "__main__":
    main()

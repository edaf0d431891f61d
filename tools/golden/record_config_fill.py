"""Record ``tests/golden/config_fill.json``: the parameters wandb's sweeps engine
(``sweeps`` 0.3.0's ``SweepConfig``) fills for the file's ``config`` (the ``CONFIG`` of
``tests/test_api_sweep_config.py``, which checks they are the same), the oracle of
``Sweep.config``. To change the config, edit it in the file and record again:

    /opt/sweeps-venv/bin/python tools/golden/record_config_fill.py
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "tests" / "golden" / "config_fill.json"


def main() -> None:
    if version("sweeps") != "0.3.0":
        sys.exit(f"needs sweeps 0.3.0, not {version('sweeps')}")
    warnings.simplefilter("ignore")
    from sweeps.config import SweepConfig

    config = json.loads(OUT.read_text())["config"]
    filled = dict(SweepConfig(config))["parameters"]
    text = json.dumps({"config": config, "parameters": filled}, indent=1, sort_keys=True)
    OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""An agent given ``ENTITY/PROJECT/ID`` that does not match the sweep says how to leave the
path's parts out (not only ``--project``/``--entity``, which were not given), and names a
sweep made without a project as the docs do: ``uncategorized``."""

from __future__ import annotations

import subprocess
import sys

import localsweep

CONFIG = {
    "program": "train.py",
    "method": "grid",
    "metric": {"name": "loss"},
    "parameters": {"x": {"values": [1]}},
}


def test_a_mismatched_sweep_path_is_explained_by_its_parts() -> None:
    sweep_id = localsweep.sweep(CONFIG, db="s.db")
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep", "agent", f"ent/proj/{sweep_id}", "--db", "s.db"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stderr
    said = " ".join(proc.stderr.split())
    assert "project 'proj' (the sweep's project is 'uncategorized'" in said
    assert "not given" not in said
    assert (
        f"Give the bare sweep id {sweep_id} (without the ENTITY/PROJECT/ of a sweep path)" in said
    )

"""What docs/config.md says a seeded random sweep draws holds: run ``n``'s values are the
engine's first run after ``random.seed(f"localsweep:{s}:{n}")`` (the engine's draws are
checked against its golden data in tests/conformance/test_random_conformance.py), not the
engine's sequence after one ``random.seed(s)``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import localsweep
from localsweep.config import parse_config
from localsweep.search._random import RandomSearch

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"

CONFIG: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "layers": {"values": [1, 2, 3, 4]},
        "opt": {"parameters": {"beta": {"min": 0.8, "max": 0.99}}},
    },
    "localsweep": {"seed": 7},
}


def test_each_seeded_run_draws_what_the_docs_say(tmp_path: Path) -> None:
    sweep = localsweep.run(CONFIG, lambda config: 1.0, count=4, db=tmp_path / "s.db", quiet=True)
    config = parse_config(CONFIG)
    runs = sorted(sweep.runs, key=lambda r: r.number)
    assert len(runs) == 4
    one_stream = random.Random(7)
    for run in runs:
        expected = RandomSearch(config).propose([], random.Random(f"localsweep:7:{run.number}"))
        assert run.params == config.nest(expected.params)
        # Not the engine's sequence after random.seed(7), as the docs used to say.
        sequence = RandomSearch(config).propose([], one_stream)
        assert run.params != config.nest(sequence.params)
    assert 'random.seed(f"localsweep:{s}:{n}")' in DOC.read_text(encoding="utf-8")

"""Training that raises ``KeyboardInterrupt`` itself, with ``isolation="process"``: the
agent stops as it does in-process (``AgentInterrupted``; the run ``killed``, end reason
``interrupted``). It recorded the run killed with no end reason and offered its point
again, run after run, without end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.agent import AgentInterrupted

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent / "programs"
GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


@pytest.fixture
def functions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The module of test functions, importable here and in the runs' processes."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    import functions as module

    yield module


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_keyboard_interrupt_the_training_raises_stops_the_agent(
    offline: Path, functions: Any, isolation: str
) -> None:
    with pytest.raises(AgentInterrupted):
        localsweep.run(
            GRID,
            functions.raise_keyboard_interrupt,
            db="s.db",
            count=5,
            isolation=isolation,
            quiet=True,
        )
    (sweep,) = localsweep.Api("s.db").sweeps()
    assert [(r.state, r.end_reason) for r in sweep.runs] == [("killed", "interrupted")]

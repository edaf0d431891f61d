"""The live ui's run page draws a long history sampled, as its sweep page draws curves:
200,000 rows made a page of 16 MB, every point of every key, seconds to draw."""

from __future__ import annotations

import math

from localsweep.report._thin import CURVE_POINTS
from localsweep.ui._pages import _history_plots


def test_a_long_history_is_drawn_sampled_keeping_its_spike_and_ends() -> None:
    history = [
        {
            "_step": i,
            "loss": 50.0 if i == 4321 else 1.0 / (i + 1),
            "acc": math.nan if i == 7 else 0.5,
        }
        for i in range(20_000)
    ]
    plots = {p["data"][0]["name"]: p for p in _history_plots(history)}
    loss = plots["loss"]["data"][0]
    xs, ys = loss["x"], loss["y"]
    assert len(xs) <= CURVE_POINTS
    assert xs[ys.index(50.0)] == 4321  # the spike is where it was logged
    assert (xs[0], xs[-1]) == (0, 19_999)
    assert xs == sorted(xs)
    assert plots["loss"]["layout"]["title"]["text"] == f"loss ({len(xs):,} of 20,000 points)"
    # A value that is no finite number stays a gap (None), not a number.
    assert all(y is None or math.isfinite(y) for y in plots["acc"]["data"][0]["y"])


def test_a_short_history_is_drawn_whole() -> None:
    history = [{"_step": i, "loss": float(i)} for i in range(CURVE_POINTS)]
    (plot,) = _history_plots(history)
    assert plot["data"][0]["x"] == list(range(CURVE_POINTS))
    assert plot["layout"]["title"]["text"] == "loss"

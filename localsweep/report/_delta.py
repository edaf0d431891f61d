"""What a live page showing one version of the sweep page needs to show the next: only
the sections, plots and table rows that changed, and for a plot whose traces only grew
(a running run's learning curve), only the new points (the page appends them with
``Plotly.extendTraces``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localsweep.report._page import SweepView

__all__ = ["row_key", "view_update"]


def row_key(table: Mapping[str, Any], row: list[Any]) -> str:
    """The key of a runs table row: its run's id."""
    return str(row[table["id_column"]])


def view_update(old: SweepView | None, new: SweepView) -> dict[str, Any]:
    """What a page showing ``old`` needs to show ``new``: only the parts, plots and table
    rows that changed (everything when ``old`` is ``None``)."""
    before = old.hashes if old is not None else {}
    old_plots = {p["id"]: p for p in old.plots} if old is not None else {}

    def changed(key: str) -> bool:
        return before.get(key) != new.hashes.get(key)

    update: dict[str, Any] = {
        "version": new.version,
        "title": new.title,
        "best_run_id": new.best_run_id,
        "parts": {k: v for k, v in new.parts.items() if changed(f"part:{k}")},
        "plots": [
            _plot_change(old_plots.get(p["id"]), p) for p in new.plots if changed(f"plot:{p['id']}")
        ],
    }
    if old is None or changed("table:columns"):
        update["table"] = new.table
    else:
        rows = [r for r in new.table["rows"] if changed(f"row:{row_key(new.table, r)}")]
        ids = {row_key(new.table, r) for r in new.table["rows"]}
        gone = [k[4:] for k in before if k.startswith("row:") and k[4:] not in ids]
        update["rows"] = {"changed": rows, "removed": gone}
    return update


#: The arrays of a trace that a live page may append to (Plotly.extendTraces).
_GROWING = ("x", "y", "text")


def _plot_change(old: Mapping[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A changed plot as a page gets it: the whole figure, or, when only points were added
    at the ends of some traces (a running run's curve grew), just those points:
    ``{"id", "extend": {key: [points per trace]}, "traces": [trace indices]}``."""
    if old is None or old.get("layout") != new.get("layout"):
        return new
    before, after = old["data"], new["data"]
    if len(before) != len(after):
        return new
    traces: list[int] = []
    tails: list[dict[str, list[Any]]] = []
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        if any(a.get(k) != b.get(k) for k in (a.keys() | b.keys()) - set(_GROWING)):
            return new
        tail: dict[str, list[Any]] = {}
        for key in _GROWING:
            was, now = a.get(key), b.get(key)
            if was is None and now is None:
                continue
            if was is None or now is None or len(now) < len(was) or now[: len(was)] != was:
                return new
            tail[key] = list(now[len(was) :])
        if any(tail.values()):
            traces.append(i)
            tails.append(tail)
    keys = set(tails[0]) if tails else set()
    if not traces or any(set(t) != keys for t in tails):
        return new
    return {
        "id": new["id"],
        "extend": {key: [t[key] for t in tails] for key in sorted(keys)},
        "traces": traces,
    }

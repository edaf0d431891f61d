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


#: The arrays of a trace that a live page may append to (``Plotly.extendTraces``).
_GROWING = ("x", "y", "text", "marker.color", "line.color", "dimensions.N.values")


def _split(trace: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """A trace as what must stay the same and the arrays that may grow, by plotly path."""
    rest = dict(trace)
    grows: dict[str, list[Any]] = {}
    for key in ("x", "y", "text"):
        if isinstance(rest.get(key), list):
            grows[key] = rest.pop(key)
    for holder in ("marker", "line"):
        part = rest.get(holder)
        if isinstance(part, Mapping) and isinstance(part.get("color"), list):
            rest[holder] = {k: v for k, v in part.items() if k != "color"}
            grows[f"{holder}.color"] = part["color"]
    dimensions = rest.get("dimensions")
    if isinstance(dimensions, list):  # parallel coordinates: one array per axis
        rest["dimensions"] = []
        for j, dim in enumerate(dimensions):
            rest["dimensions"].append({k: v for k, v in dim.items() if k != "values"})
            grows[f"dimensions.{j}.values"] = dim.get("values", [])
    return rest, grows


def _plot_change(old: Mapping[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A changed plot as a page gets it: the whole figure, or, when only points were added
    at the ends of some traces (a running run's curve grew, a run was added to a scatter),
    just those points: ``{"id", "extend": [{"update": {path: [points per trace]},
    "traces": [trace indices]}, ...]}``, one group per set of arrays that grew, and
    ``"redraw": true`` when the page must redraw the plot with them (parallel
    coordinates, which ``Plotly.extendTraces`` cannot grow)."""
    if old is None or old.get("layout") != new.get("layout"):
        return new
    before, after = old["data"], new["data"]
    if len(before) != len(after):
        return new
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        (rest_a, was), (rest_b, now) = _split(a), _split(b)
        if rest_a != rest_b or was.keys() != now.keys():
            return new
        tails: dict[str, list[Any]] = {}
        for key, values in now.items():
            known = was[key]
            if len(values) < len(known) or values[: len(known)] != known:
                return new
            if len(values) > len(known):
                tails[key] = values[len(known) :]
        if not tails:
            continue
        if tails.keys() != now.keys():
            return new  # some arrays grew and others not: not plain new points
        group = groups.setdefault(tuple(sorted(tails)), {"update": {}, "traces": []})
        for key, tail in tails.items():
            group["update"].setdefault(key, []).append(tail)
        group["traces"].append(i)
    if not groups:
        return new
    change: dict[str, Any] = {"id": new["id"], "extend": list(groups.values())}
    if any(t.get("type") == "parcoords" for t in after):
        change["redraw"] = True  # plotly cannot extend these: the page redraws from its copy
    return change

"""A long learning curve sampled down to the points a plot draws, as W&B's line plots
sample a run's history."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["CURVE_POINTS", "thin_curve"]

#: The points of one run's learning curve drawn at most: a longer history is sampled down
#: to them (as W&B's line plots sample a run's history), keeping spikes (see
#: :func:`thin_curve`).
CURVE_POINTS = 1000


def thin_curve(values: Sequence[float], bound: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """A run's logged values as the points of its curve, ``(i, value)`` with ``i`` the
    1-based place of the value in the history: all of them when there are at most
    ``bound``, else at most ``bound`` of them. The history is then cut into equal buckets,
    each drawn by its lowest and highest finite value (in their order), so a spike or a
    dip stays where a plain sample would drop it; the first and last values are kept, and
    a bucket that logged no finite value keeps one point (a gap in the line).

    >>> len(thin_curve([float(i % 7) for i in range(10_000)]))
    1000
    """
    n = len(values)
    if n <= bound:
        return list(enumerate(values, 1))
    buckets = max((bound - 2) // 2, 1)
    kept = {0, n - 1}
    # A live page redraws hundreds of long curves at each update: the common case (every
    # value finite) takes C-speed min/max over slices.
    all_finite = all(map(math.isfinite, values))
    for b in range(buckets):
        start, stop = 1 + (n - 2) * b // buckets, 1 + (n - 2) * (b + 1) // buckets
        if all_finite:
            segment = values[start:stop]
            if segment:
                kept.add(start + segment.index(min(segment)))
                kept.add(start + segment.index(max(segment)))
            continue
        finite = [i for i in range(start, stop) if math.isfinite(values[i])]
        if not finite:
            if start < stop:
                kept.add(start)
            continue
        kept.add(min(finite, key=values.__getitem__))
        kept.add(max(finite, key=values.__getitem__))
    return [(i + 1, values[i]) for i in sorted(kept)]

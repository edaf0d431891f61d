"""Hyperband early termination with the decisions of wandb's sweeps engine (0.3.0).

Pure: the runs' metric histories come in, the runs to stop go out. The agent asks only
when one of its runs reaches a band (:func:`is_band_boundary`), so logging stays cheap
between bands.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from localsweep.config import Goal, Hyperband
from localsweep.records import RunState, RunView

__all__ = ["HyperbandDecision", "StopDecision", "bands", "hyperband_stops", "is_band_boundary"]

logger = logging.getLogger(__name__)

#: The engine computes this many bands in the ``min_iter`` form, and no more.
_MIN_ITER_BAND_COUNT = 100


@dataclass(frozen=True)
class StopDecision:
    """One running run that hyperband stops now, and why.

    ``value`` and ``threshold`` are in the metric's own sign: for ``minimize`` the run
    stopped because ``value > threshold``, for ``maximize`` because ``value < threshold``.
    ``band`` is the iteration count at which it was judged (the largest band the run has
    reached).
    """

    run_id: str
    band: int
    value: float
    threshold: float


#: Another name for :class:`StopDecision`, for code that reads better with it.
HyperbandDecision = StopDecision


@dataclass(frozen=True)
class _Schedule:
    bands: tuple[int, ...]
    band_set: frozenset[int]
    # The engine keeps the top ``r`` fraction, as the float 1/eta (not len/eta), and the
    # threshold's index depends on that rounding.
    r: float
    strict: bool


def _check_int(name: str, value: Any) -> int:
    # The parser may hand over 3.0 for a YAML 3; anything fractional has no meaning here.
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"early_terminate.{name} must be an integer, but got {value!r}")


def _compute_bands(hb: Hyperband) -> tuple[int, ...]:
    eta = hb.eta
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta):
        raise ValueError(f"early_terminate.eta must be a number greater than 1, but got {eta!r}")
    if not eta > 1:
        raise ValueError(
            f"early_terminate.eta must be greater than 1, but got eta={eta!r} "
            "(each band keeps the best 1/eta of the runs)"
        )
    raw: list[int] = []
    # max_iter wins when both forms are given, as in the engine.
    if hb.max_iter is not None and hb.s is None and hb.min_iter is not None:
        # No `s`: the min_iter form, capped at max_iter (wandb's engine would fail here).
        max_iter = _check_int("max_iter", hb.max_iter)
        grow_capped: float = _check_int("min_iter", hb.min_iter)
        while grow_capped <= max_iter and len(raw) < _MIN_ITER_BAND_COUNT:
            raw.append(int(grow_capped))
            grow_capped *= eta
    elif hb.max_iter is not None:
        max_iter = _check_int("max_iter", hb.max_iter)
        if hb.s is None:
            raise ValueError(
                "early_terminate.max_iter needs s (how many bands to count back from max_iter)"
            )
        s = _check_int("s", hb.s)
        band: float = max_iter
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            raw.append(int(band))
    elif hb.min_iter is not None:
        min_iter = _check_int("min_iter", hb.min_iter)
        if min_iter < 1:
            raise ValueError(f"early_terminate.min_iter must be at least 1, but got {min_iter}")
        # Repeated multiplication, not min_iter * eta**k: the engine accumulates the
        # product, and with a fractional eta the two round differently.
        grow: float = min_iter
        for _ in range(_MIN_ITER_BAND_COUNT):
            if math.isinf(grow):
                # The engine crashes here (int(inf)); bands this large are never reached.
                break
            raw.append(int(grow))
            grow *= eta
    else:
        raise ValueError("early_terminate needs min_iter, or max_iter together with s")
    if not raw:
        raise ValueError(
            f"early_terminate gives no bands (max_iter={hb.max_iter}, s={hb.s}, eta={eta}): "
            "increase max_iter or s, or decrease eta"
        )
    # Repeated bands (eta close to 1) change no decision, so they are dropped.
    return tuple(sorted(set(raw)))


@functools.lru_cache(maxsize=64)
def _schedule(hb: Hyperband) -> _Schedule:
    found = _compute_bands(hb)
    return _Schedule(
        bands=found,
        band_set=frozenset(found),
        r=1.0 / hb.eta,
        # The engine tests ``strict is True``, so only a real True is strict.
        strict=hb.strict is True,
    )


def bands(hb: Hyperband) -> tuple[int, ...]:
    """The iteration counts at which hyperband judges runs, ascending and without repeats.

    With ``max_iter`` (which needs ``s``): divide ``max_iter`` by ``eta`` up to ``s`` times,
    keeping the integer part of each quotient that is at least 1. With ``min_iter``:
    ``min_iter``, ``min_iter*eta``, ``min_iter*eta*eta``, ... (100 of them, each rounded
    down). ``max_iter`` wins when both are given.

    >>> bands(Hyperband(max_iter=81, s=3, eta=3))
    (3, 9, 27)

    Raises :class:`ValueError` for settings that give no bands or that wandb rejects
    (``eta <= 1``, ``max_iter`` without ``s``, neither ``min_iter`` nor ``max_iter``).
    """
    return _schedule(hb).bands


def is_band_boundary(hb: Hyperband, iteration: int) -> bool:
    """Whether a run that has logged ``iteration`` valid metric values has just reached a band.

    Cheap (a set lookup after the first call for ``hb``), so it can run on every log.
    """
    return iteration in _schedule(hb).band_set


def _is_iteration(value: Any) -> bool:
    # What counts as an iteration in the engine: a finite real number that is not a bool
    # (numpy's bool is not a numbers.Real, so it is excluded too).
    if type(value) is float or type(value) is int:
        # The values nearly all are: no ABC check (each decision reads every run's
        # history, and the checks were most of a decision's time on a big sweep).
        try:
            return math.isfinite(value)
        except OverflowError:  # an int beyond any float
            return False
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except (TypeError, ValueError, OverflowError):
        return False


def _valid_history(history: Iterable[Any], negate: bool) -> list[Any]:
    # Values keep their own type (int or float): the engine compares them as given, and
    # turning large ints into floats could make ties that it does not see.
    if negate:
        return [-v for v in history if _is_iteration(v)]
    return [v for v in history if _is_iteration(v)]


def hyperband_stops(hb: Hyperband, goal: Goal, runs: Sequence[RunView]) -> list[StopDecision]:
    """The running runs that hyperband stops now, given every run of the sweep.

    An iteration is one logged value of the metric that is a finite number (not NaN, not
    infinite, not a bool). At each band ``b``, the threshold is taken from every run, in
    any state, that has at least ``b`` iterations: sort their ``b``-th values best first
    and take the one at index ``int(len/eta)`` (computed as ``int((1/eta) * len)``, like
    the engine). A running run is judged at the largest band it has reached: with
    ``strict`` (the default) by its value at that band, otherwise by its best value so far.
    It stops when that value is worse than the threshold; a tie does not stop it.

    Decisions come back in the order of ``runs``. Each band's threshold is computed once
    per call, so the cost is about one pass over the histories.

    >>> from localsweep.records import RunState, RunView
    >>> hb = Hyperband(min_iter=2, eta=2)
    >>> runs = [RunView("a", RunState.RUNNING, history=(9.0, 5.0)),
    ...         RunView("b", RunState.RUNNING, history=(9.0, 4.0)),
    ...         RunView("c", RunState.FINISHED, history=(9.0, 3.0))]
    >>> [d.run_id for d in hyperband_stops(hb, Goal.MINIMIZE, runs)]
    ['a']
    """
    schedule = _schedule(hb)
    negate = goal == Goal.MAXIMIZE
    histories = [_valid_history(run.history, negate) for run in runs]
    longest = max((len(h) for h in histories), default=0)
    reached = schedule.bands[: bisect.bisect_right(schedule.bands, longest)]

    thresholds: list[Any] = []
    for band in reached:
        values = sorted(h[band - 1] for h in histories if len(h) >= band)
        thresholds.append(values[int(schedule.r * len(values))])
    if reached:
        logger.debug(
            "hyperband thresholds: %s",
            ", ".join(
                f"{b}={(-t if negate else t)}" for b, t in zip(reached, thresholds, strict=True)
            ),
        )

    decisions: list[StopDecision] = []
    for run, history in zip(runs, histories, strict=True):
        if run.state != RunState.RUNNING:
            continue
        index = bisect.bisect_right(reached, len(history)) - 1
        if index < 0:
            continue
        band, threshold = reached[index], thresholds[index]
        value = history[band - 1] if schedule.strict else min(history)
        if value > threshold:
            decisions.append(
                StopDecision(
                    run_id=run.id,
                    band=band,
                    value=-value if negate else value,
                    threshold=-threshold if negate else threshold,
                )
            )
    if decisions:
        logger.debug("hyperband stops %s", ", ".join(d.run_id for d in decisions))
    return decisions

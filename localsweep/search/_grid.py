"""Grid search: every combination of the parameters' values, in wandb's order, each once."""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from localsweep.config import ParamPath, SweepConfig, whole_floats_as_ints
from localsweep.config._distributions import value_hash
from localsweep.records import Proposal, RunState, RunView
from localsweep.search._base import Search

__all__ = ["GridSearch"]

log = logging.getLogger(__name__)


class GridSearch(Search):
    """``method: grid``: the cartesian product of every parameter's grid values.

    Points come in wandb's order: ``itertools.product`` over the parameters in config
    order, so the last parameter varies fastest. A point is taken once any run holds
    it, whatever that run's state (a failed point is not retried, as in wandb),
    except ``crashed`` runs: their agent died, so localsweep offers the point again.

    A point is identified by its ``grid_key``, a digest of wandb's per-value hashes,
    so ``1`` and ``1.0`` are the same point. Runs without a ``grid_key`` are matched by
    their ``params``, as the run got them (``[1.0]`` as ``[1]``). ``propose`` returns
    ``None`` once every point is taken.

    Raises :class:`~localsweep.errors.ConfigError` if a parameter cannot be enumerated.
    """

    def __init__(self, config: SweepConfig):
        super().__init__(config)
        self._axes = [p for p in config.parameters if not p.is_constant]
        self._values = [p.grid_values() for p in self._axes]
        self._hashes = [[value_hash(v) for v in values] for values in self._values]
        # A run's config holds whole floats as ints, inside lists and dicts too (as W&B's
        # server delivers them; wandb's hash makes only a top-level 1.0 an int): the
        # point each such value was proposed as, so runs matched by params hold it.
        self._delivered: list[dict[str, str]] = []
        for values, hashes in zip(self._values, self._hashes, strict=True):
            delivered: dict[str, str] = {}
            for v, h in zip(values, hashes, strict=True):
                delivered.setdefault(value_hash(whole_floats_as_ints(v)), h)
            self._delivered.append(delivered)
        # For dict-valued choices, the keys the config defines: anything else in a run's
        # value was added at run time and must not make it look like a new point.
        self._dict_keys: list[set[str] | None] = []
        for values in self._values:
            keys = {k for v in values if isinstance(v, dict) for k in v}
            self._dict_keys.append(keys or None)
        self._points: Iterator[tuple[int, ...]] = itertools.product(
            *(range(len(v)) for v in self._values)
        )
        self._keys: list[str] = []
        self._indices: list[tuple[int, ...]] = []
        self._run_keys: dict[str, str | None] = {}
        self._size = math.prod(len(v) for v in self._values)
        self._hash_cache: dict[tuple[type, str], str] = {}

    @property
    def size(self) -> int:
        """How many points the grid has."""
        return self._size

    def propose(self, runs: Sequence[RunView], rng: random.Random) -> Proposal | None:
        """The first point in grid order that no run holds, or ``None`` if all are taken."""
        taken = self._taken(runs)
        # Points already enumerated first, then enumerate further only as far as needed.
        for i, key in enumerate(self._keys):
            if key not in taken:
                return self._proposal(i)
        while self._enumerate_one():
            if self._keys[-1] not in taken:
                return self._proposal(len(self._keys) - 1)
        log.debug("grid exhausted (%d points)", len(self._keys))
        return None

    def key_for(self, params: Mapping[ParamPath, Any]) -> str | None:
        """The ``grid_key`` of the point in ``params``; ``None`` if a grid parameter is missing."""
        hashes: list[str] = []
        for axis, param in enumerate(self._axes):
            if param.path not in params:
                return None
            value = params[param.path]
            known = self._dict_keys[axis]
            if known is not None and isinstance(value, Mapping):
                value = {k: v for k, v in value.items() if k in known}
            h = self._hash(value)
            hashes.append(h if h in self._hashes[axis] else self._delivered[axis].get(h, h))
        return self._combine(hashes)

    def _taken(self, runs: Sequence[RunView]) -> set[str]:
        # Crashed and killed (interrupted) runs give their point back.
        released = (RunState.CRASHED, RunState.KILLED)
        # Comprehensions keep this cheap with thousands of runs; states can change
        # between calls (a running run may crash), so nothing is carried over.
        taken = {r.grid_key for r in runs if r.grid_key is not None and r.state not in released}
        for run in runs:
            if run.grid_key is not None or run.state in released:
                continue
            if run.id in self._run_keys:
                key = self._run_keys[run.id]
            else:
                # A run's params never change, so its key is computed once.
                key = self._run_keys[run.id] = self.key_for(run.params)
            if key is not None:
                taken.add(key)
        return taken

    def _enumerate_one(self) -> bool:
        point = next(self._points, None)
        if point is None:
            return False
        self._indices.append(point)
        self._keys.append(self._combine([self._hashes[a][i] for a, i in enumerate(point)]))
        return True

    def _combine(self, hashes: list[str]) -> str:
        digest = hashlib.blake2b(digest_size=16)
        for param, h in zip(self._axes, hashes, strict=True):
            digest.update("\x1f".join(param.path).encode())
            digest.update(b"\x1e")
            digest.update(h.encode())
            digest.update(b"\x1d")
        return digest.hexdigest()

    def _hash(self, value: Any) -> str:
        cache_key = (type(value), repr(value))
        found = self._hash_cache.get(cache_key)
        if found is None:
            found = self._hash_cache[cache_key] = value_hash(value)
        return found

    def _proposal(self, i: int) -> Proposal:
        chosen = {
            param.path: self._values[axis][index]
            for axis, (param, index) in enumerate(zip(self._axes, self._indices[i], strict=True))
        }
        params: dict[ParamPath, Any] = {}
        for param in self.config.parameters:
            value = param.value if param.is_constant else chosen[param.path]
            params[param.path] = copy.deepcopy(value)
        return Proposal(
            params=params,
            grid_key=self._keys[i],
            info={"grid_index": i, "grid_size": self.size},
        )

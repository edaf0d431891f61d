"""Early termination: which running runs of a sweep to stop.

Hyperband, as wandb's sweeps engine decides (the only ``early_terminate`` type wandb
knows), compares runs with each other; :class:`Plateau` stops a run whose own metric has
stopped improving (``localsweep: {early_stopping: ...}``, which wandb does not have).
Everything here is pure: values in, decisions out; the agent does the stopping.
"""

from __future__ import annotations

from ._hyperband import (
    HyperbandDecision,
    StopDecision,
    bands,
    hyperband_stops,
    is_band_boundary,
)
from ._plateau import Plateau, PlateauDecision, plateau_stop

__all__ = [
    "HyperbandDecision",
    "Plateau",
    "PlateauDecision",
    "StopDecision",
    "bands",
    "hyperband_stops",
    "is_band_boundary",
    "plateau_stop",
]

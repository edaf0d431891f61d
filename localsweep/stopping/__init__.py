"""Early termination: which running runs of a sweep to stop, as wandb's sweeps engine decides.

Only hyperband exists (it is the only ``early_terminate`` type wandb knows). Everything
here is pure: pass the sweep's runs in, get the decisions out; the agent does the stopping.
"""

from __future__ import annotations

from ._hyperband import (
    HyperbandDecision,
    StopDecision,
    bands,
    hyperband_stops,
    is_band_boundary,
)

__all__ = ["HyperbandDecision", "StopDecision", "bands", "hyperband_stops", "is_band_boundary"]

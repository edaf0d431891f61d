"""The sweep config the prior-run tests match their sources against: the parameters the
hand-run trainings of conftest.py log (``lr`` and the nested ``opt.name``)."""

from __future__ import annotations

from typing import Any

LR_OPT: dict[str, Any] = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
    },
}

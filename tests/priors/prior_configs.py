"""The sweep configs the prior-run tests match their sources against: ``LR_OPT``, the
parameters the hand-run trainings of conftest.py log (``lr`` and the nested ``opt.name``);
``GRID``, the columns of the runs tables the table tests write."""

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

#: The parameters of the runs tables (localsweep's and W&B's layouts) the tests write.
GRID: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [0.001, 0.01]},
        "batch_size": {"values": [16, 32]},
        "optimizer": {"values": ["adam", "sgd"]},
    },
}

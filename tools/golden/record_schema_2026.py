"""Record ``tests/golden/validation_2026.json``: wandb's verdicts on the sweep-config keys
added in 2026 (``method: custom``, ``scheduler``, multi-objective ``metrics``).

The rules live only on github.com/wandb/sweeps ``main`` (PyPI ``sweeps`` 0.3.0 predates
them), so this script imports the engine from a checkout of a given commit, never from
an installed package, and records that commit beside every verdict:

    git -C SWEEPS_CLONE archive b1dfc5f95e7fa179519718e92371d1423c116893 | tar -x -C /tmp/sweeps
    python -m venv --system-site-packages /tmp/sweeps-venv
    /tmp/sweeps-venv/bin/pip install jsonref
    PYTHONPATH=/tmp/sweeps/src /tmp/sweeps-venv/bin/python tools/golden/record_schema_2026.py \\
        --commit b1dfc5f95e7fa179519718e92371d1423c116893 --client-python "$(command -v python3)"

``engine_violations`` is ``sweeps.config.schema_violations_from_proposed_config(config)``
at that commit; ``client_error`` is wandb 0.31's client check (``record_client.py``). No
code of the engine is copied into this repository: only its verdicts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden" / "validation_2026.json"
CLIENT_SCRIPT = Path(__file__).resolve().parent / "record_client.py"

PARAMS = {"a": {"values": [1, 2]}}
TWO = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
OPTUNA = {"engine": "optuna", "source": "study.py", "optimizer": "make_study"}


def c(**keys: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"parameters": PARAMS}
    out.update(keys)
    return {k: v for k, v in out.items() if v is not None}


CASES: list[tuple[str, dict[str, Any]]] = [
    # method
    ("custom_metric", c(method="custom", metric={"name": "loss"})),
    ("custom_no_metric", c(method="custom")),
    # metrics
    ("metrics_two_custom", c(method="custom", metrics=TWO)),
    ("metrics_three_custom", c(method="custom", metrics=[*TWO, {"name": "time"}])),
    ("metrics_defaults", c(method="custom", metrics=[{"name": "a"}, {"name": "b"}])),
    ("metrics_one", c(method="custom", metrics=TWO[:1])),
    ("metrics_empty", c(method="custom", metrics=[])),
    ("metrics_not_list", c(method="custom", metrics={"name": "loss"})),
    ("metrics_item_not_mapping", c(method="custom", metrics=[TWO[0], "acc"])),
    ("metrics_item_no_name", c(method="custom", metrics=[TWO[0], {"goal": "maximize"}])),
    ("metrics_item_bad_goal", c(method="custom", metrics=[TWO[0], {"name": "b", "goal": "up"}])),
    ("metrics_item_unknown_key", c(method="custom", metrics=[TWO[0], {"name": "b", "x": 1}])),
    ("metrics_targets", c(method="custom", metrics=[{**TWO[0], "target": 0.1}, TWO[1]])),
    ("metrics_with_bayes", c(method="bayes", metrics=TWO)),
    ("metrics_with_grid", c(method="grid", metrics=TWO)),
    ("metrics_and_metric", c(method="custom", metric={"name": "loss"}, metrics=TWO)),
    ("metrics_no_method", c(metrics=TWO)),
    # scheduler
    ("optuna_custom_metrics", c(method="custom", metrics=TWO, scheduler={"engine": "optuna"})),
    ("optuna_optimizer", c(method="custom", metric={"name": "loss"}, scheduler=OPTUNA)),
    (
        "optuna_search_space_no_parameters",
        {
            "method": "custom",
            "metrics": TWO,
            "scheduler": {"engine": "optuna", "source": "s.py", "search_space": "space"},
        },
    ),
    (
        "optuna_empty_search_space_no_parameters",
        {
            "method": "custom",
            "metric": {"name": "loss"},
            "scheduler": {"engine": "optuna", "source": "s.py", "search_space": ""},
        },
    ),
    (
        "optuna_search_space_and_parameters",
        c(
            method="custom",
            metric={"name": "loss"},
            scheduler={"engine": "optuna", "source": "s.py", "search_space": "space"},
        ),
    ),
    ("optuna_with_bayes", c(method="bayes", metric={"name": "loss"}, scheduler=OPTUNA)),
    (
        "optuna_optimizer_no_source",
        c(method="custom", metrics=TWO, scheduler={"engine": "optuna", "optimizer": "f"}),
    ),
    (
        "optuna_search_space_no_source",
        c(method="custom", metrics=TWO, scheduler={"engine": "optuna", "search_space": "f"}),
    ),
    (
        "optuna_source_only",
        c(method="custom", metrics=TWO, scheduler={"engine": "optuna", "source": "s.py"}),
    ),
    ("scheduler_no_engine", c(method="custom", metrics=TWO, scheduler={"source": "s.py"})),
    ("scheduler_bad_engine", c(method="custom", metrics=TWO, scheduler={"engine": "hyperopt"})),
    (
        "scheduler_unknown_key",
        c(method="custom", metrics=TWO, scheduler={"engine": "optuna", "seed": 1}),
    ),
    ("scheduler_not_mapping", c(method="custom", metrics=TWO, scheduler="optuna")),
    (
        "scheduler_source_not_string",
        c(method="custom", metrics=TWO, scheduler={"engine": "optuna", "source": 3}),
    ),
    ("ax_custom", c(method="custom", metrics=TWO, scheduler={"engine": "ax"})),
    ("wandb_grid", c(method="grid", scheduler={"engine": "wandb"})),
    ("wandb_bayes", c(method="bayes", metric={"name": "loss"}, scheduler={"engine": "wandb"})),
    ("wandb_custom", c(method="custom", metrics=TWO, scheduler={"engine": "wandb"})),
    (
        "wandb_search_space_no_parameters",
        {
            "method": "random",
            "scheduler": {"engine": "wandb", "source": "s.py", "search_space": "space"},
        },
    ),
    (
        "optuna_with_early_terminate",
        c(
            method="custom",
            metric={"name": "loss"},
            scheduler={"engine": "optuna"},
            early_terminate={"type": "hyperband", "min_iter": 3},
        ),
    ),
    (
        "optuna_with_local_controller",
        c(
            method="custom",
            metrics=TWO,
            scheduler={"engine": "optuna"},
            controller={"type": "local"},
        ),
    ),
    (
        "optuna_with_cloud_controller",
        c(
            method="custom",
            metrics=TWO,
            scheduler={"engine": "optuna"},
            controller={"type": "cloud"},
        ),
    ),
    (
        "custom_early_terminate_no_scheduler",
        c(
            method="custom",
            metric={"name": "loss"},
            early_terminate={"type": "hyperband", "min_iter": 3},
        ),
    ),
    ("no_parameters_no_scheduler", {"method": "custom", "metrics": TWO}),
]


def engine_violations(config: dict[str, Any]) -> list[str]:
    from sweeps.config import schema_violations_from_proposed_config

    try:
        return [str(v) for v in schema_violations_from_proposed_config(config)]
    except Exception as exc:  # the engine crashing on a config rejects it too
        return [f"EXCEPTION {type(exc).__name__}: {exc}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", required=True, help="the wandb/sweeps commit on PYTHONPATH")
    parser.add_argument("--client-python", required=True, help="an interpreter with wandb 0.31")
    args = parser.parse_args()
    import sweeps

    if "site-packages" in (sweeps.__file__ or ""):
        sys.exit("import the engine from a checkout of the commit (PYTHONPATH=.../src)")
    ids = [i for i, _ in CASES]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate case id")
    configs = [json.loads(json.dumps(config)) for _, config in CASES]
    client = json.loads(
        subprocess.run(
            [args.client_python, str(CLIENT_SCRIPT)],
            input=json.dumps(configs),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    cases = [
        {
            "id": case_id,
            "config": config,
            "engine_violations": engine_violations(config),
            "client_error": error,
        }
        for case_id, config, error in zip(ids, configs, client, strict=True)
    ]
    out = {
        "source": f"github.com/wandb/sweeps@{args.commit} (schema.json, cfg.py)",
        "client": "wandb 0.31.0 _validate_config_and_fill_distribution",
        "cases": cases,
    }
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()

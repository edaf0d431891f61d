"""parse_config gives wandb's 2026 verdicts on ``method: custom``, ``scheduler`` and ``metrics``.

Golden data: ``tests/golden/validation_2026.json``, recorded by
``tools/golden/record_schema_2026.py`` from github.com/wandb/sweeps at the commit the file
names (the rules are not on PyPI yet). One rule of that engine is not ours: it reports
every engine but ``wandb`` as "not supported", because it is wandb's Python engine that
speaks; running ``engine: optuna`` is what wandb's scheduler command and localsweep do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import Goal, Method, SweepConfig, parse_config
from localsweep.errors import ConfigError

GOLDEN = json.loads(
    (Path(__file__).resolve().parent.parent / "golden" / "validation_2026.json").read_text(
        encoding="utf-8"
    )
)
CASES: list[dict[str, Any]] = GOLDEN["cases"]
BY_ID = {c["id"]: c for c in CASES}

#: The wandb engine's own limit, not a rule of the schema (see the module docstring).
NOT_SUPPORTED = "scheduler.engine 'optuna' is not supported"


@dataclass(frozen=True)
class Difference:
    accepts: bool
    why: str


DELIBERATE: dict[str, Difference] = {
    "custom_no_metric": Difference(
        False, "a study with no objective cannot be told any run; refused up front"
    ),
    "optuna_with_bayes": Difference(
        False, "`engine: optuna` goes with `method: custom` (the issue's rule); bayes is ours"
    ),
    "wandb_search_space_no_parameters": Difference(
        False, "`engine: wandb` searches `parameters`; a search_space function is optuna's"
    ),
}


def wandb_verdict(case: Mapping[str, Any]) -> bool:
    """Whether wandb accepts the config, its engine's "not supported" aside."""
    rejections = [v for v in case["engine_violations"] if NOT_SUPPORTED not in v]
    return not rejections and case["client_error"] is None


def should_accept(case: Mapping[str, Any]) -> bool:
    if case["id"] in DELIBERATE:
        return DELIBERATE[case["id"]].accepts
    return wandb_verdict(case)


def verdict(case: Mapping[str, Any]) -> SweepConfig | ConfigError:
    try:
        return parse_config(case["config"])
    except ConfigError as exc:
        return exc


ACCEPTED = [c for c in CASES if should_accept(c)]
REJECTED = [c for c in CASES if not should_accept(c)]


def test_golden_data_names_the_engine_commit() -> None:
    assert "github.com/wandb/sweeps@b1dfc5f95e7fa179519718e92371d1423c116893" in GOLDEN["source"]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["id"] for c in ACCEPTED])
def test_accepts_what_wandb_accepts(case: dict[str, Any]) -> None:
    result = verdict(case)
    assert isinstance(result, SweepConfig), f"{case['engine_violations']}\n{result}"


@pytest.mark.parametrize("case", REJECTED, ids=[c["id"] for c in REJECTED])
def test_rejects_what_wandb_rejects_with_a_named_field(case: dict[str, Any]) -> None:
    result = verdict(case)
    assert isinstance(result, ConfigError), case["engine_violations"] or DELIBERATE[case["id"]]
    assert all(v.path for v in result.violations), result.violations


@pytest.mark.parametrize("case_id", sorted(DELIBERATE))
def test_deliberate_difference_is_real(case_id: str) -> None:
    assert DELIBERATE[case_id].accepts != wandb_verdict(BY_ID[case_id])


def test_only_the_engines_own_limit_is_set_aside() -> None:
    # Every optuna case wandb's engine refuses only as "not supported" is one we run.
    only_limit = [
        c["id"]
        for c in CASES
        if c["engine_violations"]
        and all(NOT_SUPPORTED in v for v in c["engine_violations"])
        and c["id"] not in DELIBERATE
    ]
    assert len(only_limit) >= 5
    for case_id in only_limit:
        assert isinstance(verdict(BY_ID[case_id]), SweepConfig), case_id


def test_metrics_are_read_in_order_with_wandbs_defaults() -> None:
    result = verdict(BY_ID["metrics_defaults"])
    assert isinstance(result, SweepConfig)
    assert result.method is Method.CUSTOM and result.metric is None
    assert [(m.name, m.goal) for m in result.metrics] == [
        ("a", Goal.MINIMIZE),
        ("b", Goal.MINIMIZE),
    ]
    assert result.is_multi_objective


def test_scheduler_fields_are_read() -> None:
    result = verdict(BY_ID["optuna_optimizer"])
    assert isinstance(result, SweepConfig) and result.scheduler is not None
    s = result.scheduler
    assert (s.engine, s.source, s.optimizer, s.search_space) == (
        "optuna",
        "study.py",
        "make_study",
        None,
    )


def test_ax_says_it_is_not_supported_yet() -> None:
    result = verdict(BY_ID["ax_custom"])
    assert isinstance(result, ConfigError)
    (v,) = result.violations
    assert v.path == "scheduler.engine" and "not supported by localsweep yet" in v.message


def test_a_repeated_objective_is_refused() -> None:
    raw = {
        "method": "custom",
        "metrics": [{"name": "loss"}, {"name": "loss", "goal": "maximize"}],
        "parameters": {"a": {"values": [1, 2]}},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert [v.path for v in info.value.violations] == ["metrics[1].name"]


def test_search_space_makes_parameters_unused_with_a_warning() -> None:
    result = verdict(BY_ID["optuna_search_space_and_parameters"])
    assert isinstance(result, SweepConfig)
    assert any(w.startswith("parameters:") for w in result.warnings)

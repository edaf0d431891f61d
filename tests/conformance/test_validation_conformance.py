"""parse_config accepts exactly the sweep configs wandb accepts, except where we chose otherwise.

wandb accepts a config when its sweeps engine reports no schema violation (deprecation
notices aside; they are warnings) and its client (``wandb sweep`` / ``wandb.sweep``) does
not raise. Golden data: ``tests/golden/validation.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import ConfigError

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "golden" / "validation.json").read_text(
        encoding="utf-8"
    )
)
BY_ID = {c["id"]: c for c in CASES}

#: The engine's wording for a deprecated distribution (a notice, not a rejection).
DEPRECATION_MARK = "where min/max specify base-e exponents"
DEPRECATED = ("log_uniform", "q_log_uniform", "inv_log_uniform")


@dataclass(frozen=True)
class Difference:
    """Where localsweep deliberately gives another verdict than wandb."""

    accepts: bool
    why: str
    #: The config is accepted, but only with a warning in ``SweepConfig.warnings``.
    warns: bool = False


_NO_OBJECTIVE = (
    "`method: custom` without `metric` or `metrics` gives the study nothing to be told; "
    "wandb's scheduler would fail on the first run, we refuse it up front"
)
_LATE_CRASH = "wandb accepts the config but its engine fails on the first {}; we refuse it up front"
_NESTED_ONLY_TOP = (
    "the engine checks {} only for top-level parameters, then crashes or samples nonsense "
    "for nested ones; we check every level"
)

DELIBERATE: dict[str, Difference] = {
    # Lenient: wandb refuses these, localsweep reads them and says so.
    "string_number_min": Difference(
        True, "PyYAML reads 1e-5 as a string; we read it as the number it spells", warns=True
    ),
    "string_number_both": Difference(
        True, "PyYAML reads 1e-5 as a string; we read it as the number it spells", warns=True
    ),
    "string_number_log_uniform_values": Difference(
        True, "PyYAML reads 1e-5 as a string; we read it as the number it spells", warns=True
    ),
    "metric_impute_while_running_bool": Difference(
        True, "YAML reads an unquoted false as a bool; we read it as the string 'false'", warns=True
    ),
    "localsweep_options_key": Difference(
        True, "`localsweep:` holds our own options (seed, sampler)"
    ),
    # Strict: wandb accepts these at creation, but they cannot work.
    "method_custom": Difference(False, _NO_OBJECTIVE),
    "scheduler_optuna_custom": Difference(False, _NO_OBJECTIVE),
    "scheduler_search_space_no_parameters": Difference(False, _NO_OBJECTIVE),
    "grid_with_uniform": Difference(False, _LATE_CRASH.format("grid suggestion")),
    "grid_with_probabilities": Difference(False, _LATE_CRASH.format("grid suggestion")),
    "method_bayes_no_metric": Difference(False, _LATE_CRASH.format("bayes suggestion")),
    "bayes_only_constants": Difference(False, _LATE_CRASH.format("bayes suggestion")),
    "et_no_band": Difference(False, _LATE_CRASH.format("stop check (no bands)")),
    "et_s_zero": Difference(False, _LATE_CRASH.format("stop check (no bands)")),
    "et_s_float": Difference(False, "hyperband's `s` counts bands; the engine loops range(s)"),
    "et_without_metric": Difference(
        False, "hyperband compares runs by the metric; without one it can stop nothing"
    ),
    "nested_min_gt_max": Difference(False, _NESTED_ONLY_TOP.format("min < max")),
    "nested_bad_probabilities": Difference(False, _NESTED_ONLY_TOP.format("probabilities")),
}


def wandb_accepts(case: Mapping[str, Any]) -> bool:
    rejections = [v for v in case["engine_violations"] if DEPRECATION_MARK not in v]
    return not rejections and case["client_error"] is None


def localsweep_should_accept(case: Mapping[str, Any]) -> bool:
    if case["id"] in DELIBERATE:
        return DELIBERATE[case["id"]].accepts
    return wandb_accepts(case)


def uses_deprecated(node: Any) -> list[str]:
    """The deprecated distributions a parameters block uses, at any depth."""
    found: list[str] = []
    if not isinstance(node, Mapping):
        return found
    for spec in node.values():
        if not isinstance(spec, Mapping):
            continue
        if spec.get("distribution") in DEPRECATED:
            found.append(spec["distribution"])
        found += uses_deprecated(spec.get("parameters"))
    return found


def verdict(case: Mapping[str, Any]) -> SweepConfig | ConfigError:
    try:
        return parse_config(case["config"])
    except ConfigError as exc:
        return exc


ACCEPTED = [c for c in CASES if localsweep_should_accept(c)]
REJECTED = [c for c in CASES if not localsweep_should_accept(c)]
DEPRECATED_CASES = [c for c in ACCEPTED if uses_deprecated(c["config"].get("parameters"))]
WARNED = [k for k, d in DELIBERATE.items() if d.warns]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["id"] for c in ACCEPTED])
def test_accepts_what_wandb_accepts(case: dict[str, Any]) -> None:
    result = verdict(case)
    assert isinstance(result, SweepConfig), (
        f"rejected, but wandb accepts (engine: {case['engine_violations']}, "
        f"client: {case['client_error']}):\n{result}"
    )


@pytest.mark.parametrize("case", REJECTED, ids=[c["id"] for c in REJECTED])
def test_rejects_what_wandb_rejects(case: dict[str, Any]) -> None:
    result = verdict(case)
    assert isinstance(result, ConfigError), (
        f"accepted, but wandb rejects (engine: {case['engine_violations']}, "
        f"client: {case['client_error']})"
        if case["id"] not in DELIBERATE
        else f"accepted, but should not be: {DELIBERATE[case['id']].why}"
    )


@pytest.mark.parametrize("case", REJECTED, ids=[c["id"] for c in REJECTED])
def test_every_violation_says_where_or_what(case: dict[str, Any]) -> None:
    result = verdict(case)
    if not isinstance(result, ConfigError):
        pytest.fail("accepted; test_rejects_what_wandb_rejects explains")
    assert result.violations, "a ConfigError with no violations"
    for violation in result.violations:
        assert violation.path.strip() or violation.message.strip(), violation


@pytest.mark.parametrize("case", DEPRECATED_CASES, ids=[c["id"] for c in DEPRECATED_CASES])
def test_deprecated_distribution_warns(case: dict[str, Any]) -> None:
    result = verdict(case)
    assert isinstance(result, SweepConfig), result
    for name in uses_deprecated(case["config"]["parameters"]):
        assert any(name in w for w in result.warnings), (name, result.warnings)


@pytest.mark.parametrize("case_id", WARNED)
def test_lenient_difference_warns(case_id: str) -> None:
    result = verdict(BY_ID[case_id])
    assert isinstance(result, SweepConfig), result
    assert result.warnings, "accepted where wandb refuses, but without a warning"


@pytest.mark.parametrize("case_id", sorted(DELIBERATE))
def test_deliberate_difference_is_real(case_id: str) -> None:
    # A stale entry here would hide a conformance failure, so each must still differ.
    assert case_id in BY_ID, "no such golden case"
    assert DELIBERATE[case_id].accepts != wandb_accepts(BY_ID[case_id])


def test_engine_deprecation_notices_are_the_deprecated_distributions() -> None:
    # Guards DEPRECATION_MARK: if the recorded wording changed, deprecation notices
    # would silently count as rejections.
    noticed = {c["id"] for c in CASES if any(DEPRECATION_MARK in v for v in c["engine_violations"])}
    assert noticed == {
        "deprecated_log_uniform",
        "deprecated_q_log_uniform",
        "deprecated_inv_log_uniform",
    }

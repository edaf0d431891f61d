"""The keys wandb's sweep schema gained in 2026: ``method: custom``, ``scheduler`` and
multi-objective ``metrics``.

The rules are those of wandb's sweeps engine at github.com/wandb/sweeps commit b1dfc5f
(``src/sweeps/config/schema.json`` and ``cfg.py``), recorded as golden verdicts in
``tests/golden/validation_2026.json``, except its rule that engines other than
``wandb`` are "not supported": that is its Python engine speaking, and localsweep runs
``engine: optuna`` itself. Where localsweep differs, ``docs/custom-schedulers.md`` says
why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localsweep.config._checks import Checker, show
from localsweep.config._types import Goal, Method, Metric, Scheduler

__all__ = ["ENGINES", "check_custom", "read_metric", "read_metrics", "read_scheduler"]

ENGINES = ("optuna", "ax", "wandb")
_SCHEDULER_KEYS = ("engine", "source", "optimizer", "search_space")
_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_IMPUTE = ("latest", "best", "worst")
#: localsweep's own key (``_parse.EXTENSION_KEY``; that module imports this one).
EXTENSION_KEY = "localsweep"
#: The methods ``engine: wandb`` runs (wandb's ``_SUPPORTED_METHODS_BY_ENGINE``).
_WANDB_ENGINE_METHODS = ("grid", "random", "bayes")


def read_metric(value: Any, where: str, check: Checker) -> Metric | None:
    """One metric entry (``metric:`` or an item of ``metrics:``), with wandb's defaults."""
    if where == "metric" and isinstance(value, list):
        check.error(
            "metric",
            "is a list, but `metric:` is one metric (`name:` and optionally `goal:`); "
            "for several objectives, write the list under `metrics:` instead, with "
            "`method: custom` (wandb's multi-objective form, see docs/custom-schedulers.md)",
        )
        return None
    node = check.mapping(value, where, "with `name:` and optionally `goal:`")
    if node is None:
        return None
    before = len(check.violations)
    check.unknown_keys(node, where, _METRIC_KEYS, f"`{where}`")
    name = None
    if "name" not in node:
        check.error(f"{where}.name", "is required: the name of the metric your runs log")
    else:
        name = check.string(node, "name", f"{where}.name")
    goal = (
        check.choice(node, "goal", f"{where}.goal", [g.value for g in Goal])
        if "goal" in node
        else "minimize"
    )
    target = check.number(node, "target", f"{where}.target") if "target" in node else None
    impute = (
        check.choice(node, "impute", f"{where}.impute", _IMPUTE) if "impute" in node else "worst"
    )
    while_running: str | None = "false"
    if "impute_while_running" in node:
        if node["impute_while_running"] is False:
            # YAML reads an unquoted false as a boolean; wandb's schema wants the string.
            check.warn(
                f"{where}.impute_while_running",
                "read `false` as the string 'false' (wandb's schema wants it quoted)",
            )
            node["impute_while_running"] = "false"
        while_running = check.choice(
            node, "impute_while_running", f"{where}.impute_while_running", (*_IMPUTE, "false")
        )
    if len(check.violations) > before or name is None:
        return None
    assert goal is not None and impute is not None and while_running is not None
    return Metric(
        name=name,
        goal=Goal(goal),
        target=target,
        impute=impute,
        impute_while_running=while_running,
    )


def read_metrics(data: Mapping[str, Any], check: Checker) -> tuple[Metric, ...]:
    """``metrics:``, a list of at least two metric entries with distinct names."""
    if "metrics" not in data:
        return ()
    value = data["metrics"]
    if not isinstance(value, list):
        check.error(
            "metrics",
            f"must be a list of metrics (`- {{name: loss, goal: minimize}}`), not {show(value)}",
        )
        return ()
    if len(value) < 2:
        check.error(
            "metrics",
            f"needs at least 2 metrics, got {len(value)}; for one objective write "
            "`metric: {name: ..., goal: ...}` instead",
        )
    before = len(check.violations)
    metrics = [read_metric(item, f"metrics[{i}]", check) for i, item in enumerate(value)]
    seen: dict[str, int] = {}
    for i, metric in enumerate(metrics):
        if metric is None:
            continue
        if metric.name in seen:
            # wandb's engine accepts a repeated name (its schema does not say); a study with
            # the same objective twice has a degenerate front (every run is on it when the
            # goals differ), and localsweep names each objective by its metric (the
            # report's panels, the export's columns), so two could not be told apart.
            check.error(
                f"metrics[{i}].name",
                f"{metric.name!r} is already metrics[{seen[metric.name]}]: each objective "
                "is a different metric your runs log; name another one here, or remove "
                f"metrics[{i}]",
            )
        seen.setdefault(metric.name, i)
    if len(check.violations) > before:
        return ()
    read = tuple(m for m in metrics if m is not None)
    _warn_partial_targets(read, check)
    return read


def _warn_partial_targets(metrics: tuple[Metric, ...], check: Checker) -> None:
    """A ``target`` acts only when every objective has one (wandb's engine accepts the
    config silently): say which objectives lack one."""
    missing = [(i, m.name) for i, m in enumerate(metrics) if m.target is None]
    if not missing or len(missing) == len(metrics):
        return
    lacking = ", ".join(f"metrics[{i}] ({name!r})" for i, name in missing)
    given = [repr(m.name) for m in metrics if m.target is not None]
    whose = f"the target of {given[0]}" if len(given) == 1 else f"the targets of {', '.join(given)}"
    check.warn(
        "metrics",
        f"no `target` on {lacking}, so {whose} never ends the sweep: it finishes only when "
        "one run reaches the target of every metric; give each metric a `target:`, or "
        "remove the targets",
    )


def read_scheduler(data: Mapping[str, Any], check: Checker) -> Scheduler | None:
    """The ``scheduler`` block: ``engine`` (required), ``source``, ``optimizer``,
    ``search_space``, each a string, the last two needing ``source``."""
    if "scheduler" not in data:
        return None
    node = check.mapping(data["scheduler"], "scheduler", "such as `engine: optuna`")
    if node is None:
        return None
    before = len(check.violations)
    check.unknown_keys(node, "scheduler", _SCHEDULER_KEYS, "`scheduler`")
    engine = None
    if "engine" not in node:
        check.error(
            "scheduler.engine", "is required: write `engine: optuna` (or `wandb`, our usual search)"
        )
    else:
        engine = check.choice(node, "engine", "scheduler.engine", ENGINES)
    values: dict[str, str | None] = {}
    for key in ("source", "optimizer", "search_space"):
        values[key] = check.string(node, key, f"scheduler.{key}") if key in node else None
    for key in ("optimizer", "search_space"):
        if key in node and "source" not in node:
            check.error(
                f"scheduler.{key}",
                f"needs `source:`, the Python file that defines `{node[key]}` "
                "(relative to the config file)",
            )
    if engine == "ax":
        check.error(
            "scheduler.engine",
            "`engine: ax` is not supported by localsweep yet; use `engine: optuna` "
            "(your own study through `optimizer`), or `engine: wandb` with grid, random or bayes",
        )
    if len(check.violations) > before or engine is None:
        return None
    return Scheduler(
        engine=engine,
        source=values["source"],
        optimizer=values["optimizer"] or None,
        search_space=values["search_space"] or None,
    )


def check_custom(
    data: Mapping[str, Any],
    method: Method | None,
    metric: Metric | None,
    metrics: tuple[Metric, ...],
    scheduler: Scheduler | None,
    check: Checker,
) -> None:
    """The rules between ``method``, ``metric(s)``, ``scheduler`` and ``early_terminate``."""
    if "metric" in data and "metrics" in data:
        check.error(
            "metrics",
            "cannot be set together with `metric`: use `metric` for one objective, or "
            "`metrics` for several",
        )
    elif "metrics" in data and method is not None and method is not Method.CUSTOM:
        also = ""
        if scheduler is not None and scheduler.engine == "wandb":
            # Else the next check would refuse `engine: wandb` with `method: custom`.
            also = " and remove `scheduler` (`engine: wandb` runs only grid, random and bayes)"
        check.error(
            "metrics",
            f"needs `method: custom` (got `method: {method.value}`): several objectives are "
            f"searched by an Optuna study; write `method: custom`{also}",
        )
    several = "metrics" in data and "metric" not in data
    if several and "early_terminate" in data:
        check.error("early_terminate", _hyperband_with_metrics(data))
    if "scheduler" in data:
        if "early_terminate" in data and not several:
            fix = "with `engine: optuna`, stop runs early with your study's pruner (`optimizer`)"
            if scheduler is not None and scheduler.engine == "wandb":
                fix = "remove `scheduler`: `engine: wandb` is the usual search, which takes it"
            check.error(
                "early_terminate",
                f"cannot be used together with `scheduler` (wandb's rule): {fix}",
            )
        controller = data.get("controller")
        if isinstance(controller, Mapping) and controller.get("type") == "local":
            check.error(
                "controller",
                "`controller: {type: local}` cannot be used together with `scheduler` "
                "(wandb's rule); remove `controller`",
            )
    if scheduler is not None and method is not None:
        if scheduler.engine == "wandb" and method is Method.CUSTOM:
            check.error(
                "method",
                "`scheduler.engine: wandb` runs grid, random or bayes, not `method: custom`; "
                "use `engine: optuna` for a custom search",
            )
        elif scheduler.engine == "optuna" and method is not Method.CUSTOM:
            check.error(
                "method",
                f"`scheduler.engine: optuna` goes with `method: custom`, not "
                f"`method: {method.value}`; write `method: custom`",
            )
    if scheduler is not None and scheduler.engine == "wandb":
        for key in ("optimizer", "search_space"):
            if getattr(scheduler, key):
                check.warn(
                    f"scheduler.{key}",
                    "only `engine: optuna` calls your code; with `engine: wandb` it is ignored",
                )
    if method is Method.CUSTOM and not {"metric", "metrics"} & set(data):
        check.error(
            "metric",
            "`method: custom` needs `metric: {name: ..., goal: ...}` or `metrics: [...]` "
            "to tell the study each run's result",
        )
    if scheduler is None:
        return
    if scheduler.search_space and scheduler.engine == "optuna" and "parameters" in data:
        check.warn(
            "parameters",
            "not used: the `scheduler.search_space` function defines every run's config",
        )
    if scheduler.engine == "wandb" and "parameters" not in data and "method" in data:
        check.error(
            "parameters",
            "is required with `engine: wandb`, which searches `parameters` by grid, "
            "random or bayes (a `search_space` function is only called by `engine: optuna`)",
        )


def _hyperband_with_metrics(data: Mapping[str, Any]) -> str:
    """Why ``early_terminate`` cannot go with ``metrics``, and the stopping that can."""
    objectives = data["metrics"]
    first = objectives[0] if isinstance(objectives, list) and objectives else None
    name = first.get("name") if isinstance(first, Mapping) else None
    name = name if isinstance(name, str) and name else "..."
    options = data.get(EXTENSION_KEY)
    if isinstance(options, Mapping) and "early_stopping" in options:
        fix = (
            f"remove `early_terminate`: `{EXTENSION_KEY}.early_stopping` already stops each "
            "run when its metric stops improving"
        )
    else:
        fix = (
            "to stop runs early, remove `early_terminate` and stop each run when one of "
            f"the metrics stops improving: `{EXTENSION_KEY}: {{early_stopping: {{metric: "
            f"{name}}}}}` (see docs/early-termination.md)"
        )
    return (
        "cannot be used with several `metrics`: hyperband ranks runs by one metric "
        "(wandb's engine fails on this config when it first stops a run: 'Hyperband "
        'stopping requires "metric" section\'), and an Optuna pruner cannot judge several '
        f"objectives; {fix}"
    )

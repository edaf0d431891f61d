"""Hints for a person about a sweep that runs but cannot work as meant."""

from __future__ import annotations

import difflib
import os
import re
import reprlib
import shlex
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from localsweep._shell import shell_quote

__all__ = [
    "FUNCTION_PLACEHOLDER",
    "agent_command",
    "db_in_command",
    "go_on_hint",
    "join_sweep_path",
    "logged_keys",
    "missing_metric_message",
    "missing_objective_message",
    "missing_program_message",
    "not_a_number_kind",
    "suggested_db_flag",
    "sweep_metric_hint",
    "unstartable_command_messages",
]


def db_in_command(db: str | os.PathLike[str] | None) -> tuple[str | None, str]:
    """The database as it may be shown in a command suggested to the user (``--db``'s
    value, ``db=``'s), or ``None`` to leave it out; and a note to print beside it (empty
    unless a password was left out). The database ``LOCALSWEEP_DB`` holds is left out:
    the variable gives it to the command as it gave it here (a team exports it so that
    its scripts need no ``--db``), password included. A password is never written into a
    suggested command: another URL is shown without it and the note says how to pass it."""
    if not db:
        return None, ""
    from localsweep.store._urls import PASSWORD_HINT, has_password, url_without_password

    db = os.fspath(db)
    if os.environ.get("LOCALSWEEP_DB") == db:
        if has_password(db):
            return None, "(LOCALSWEEP_DB gives it the database, password included, as here)"
        return None, ""
    if not has_password(db):
        return db, ""
    return url_without_password(db), f"(the password is left out of --db: {PASSWORD_HINT})"


def suggested_db_flag(db: str | os.PathLike[str] | None) -> tuple[str, str]:
    """The ``--db`` part of a command line suggested to the user, and
    :func:`db_in_command`'s note to print beside it."""
    shown, note = db_in_command(db)
    return ("" if shown is None else f" --db {shell_quote(shown)}"), note


def join_sweep_path(sweep_id: str, entity: str | None = None, project: str | None = None) -> str:
    """The sweep as ``wandb agent`` takes it and ``wandb sweep`` prints it: ``E/P/ID``
    with an entity and a project, ``P/ID`` with a project only, else the bare id."""
    if entity and project:
        return f"{entity}/{project}/{sweep_id}"
    if project:
        return f"{project}/{sweep_id}"
    return sweep_id


def agent_command(
    sweep_id: str,
    db: str | os.PathLike[str] | None = None,
    function_ref: str | None = None,
    *,
    count: int | None = None,
    isolation: str | None = None,
    workers: int | None = None,
    entity: str | None = None,
    project: str | None = None,
) -> tuple[str, str]:
    """The ``localsweep agent`` command that runs sweep ``sweep_id`` of ``db`` (``None``:
    ``LOCALSWEEP_DB`` or the default file), with ``--function function_ref`` for a sweep
    of a Python function, ``--count count``, ``--workers workers`` (when above 1) and
    ``--isolation isolation`` (left out when ``None`` or the default, ``thread``); and
    :func:`suggested_db_flag`'s note. The one
    place that says how to go on with a sweep: ``localsweep sweep``, and the agent on
    Ctrl-C.

    Every option comes before the sweep, and the sweep is the last word, as
    :func:`join_sweep_path` writes it (``E/P/ID``): the command is ``wandb agent E/P/ID`` with
    localsweep's options, so a script that takes the last word of wandb's line for the
    sweep id (``awk '{print $NF}'``, ``cut -d/ -f3``) gets it here too."""
    flag, note = suggested_db_flag(db)
    command = f"localsweep agent{flag}"
    if function_ref:
        command += f" --function {function_ref}"
    if count is not None:
        command += f" --count {count}"
    if workers is not None and workers > 1:
        command += f" --workers {workers}"
    if isolation and isolation != "thread":
        command += f" --isolation {shlex.quote(isolation)}"
    return f"{command} {shlex.quote(join_sweep_path(sweep_id, entity, project))}", note


#: What stands for the function in a suggested command when its import path is not known.
FUNCTION_PLACEHOLDER = "MODULE:FUNC"


def go_on_hint(
    sweep_id: str,
    db: str | os.PathLike[str] | None = None,
    function: str | Callable[..., Any] | None = None,
    *,
    count: int | None = None,
    isolation: str | None = None,
    workers: int | None = None,
) -> str:
    """How to go on with sweep ``sweep_id`` after its agent stopped (Ctrl-C), from the
    shell and from Python, with the database ``db`` as the user gave it (``None``: the
    default, left out) and the training ``function``: ``--function``'s ``MODULE:FUNC``
    or the function itself (``None``: a program sweep, which needs none).

    ``count``: the runs left of the stopped agent's ``count`` (``None``: it had none), given
    as ``--count``/``count=`` so that the command runs those and no more (a random or bayes
    sweep would otherwise run without end); 0 says its count was done. ``isolation``: given
    as ``--isolation``/``isolation=`` for a function sweep when not ``thread``, so that
    the runs go on in processes of their own as they started. ``workers``: given as
    ``--workers``/``workers=`` when above 1, so that they go on as many at a time."""
    ref, name = _function_names(function)
    if function is None or isolation == "thread":
        isolation = None  # a program's runs are processes anyway; "thread" is the default
    lead = f"Sweep {sweep_id} goes on with"
    if count is not None and count < 1:
        lead = f"Sweep {sweep_id} ran the runs of its count; more go on with"
        count = None
    if workers is not None and workers < 2:
        workers = None  # one at a time is the default
    command, note = agent_command(
        sweep_id, db, ref, count=count, isolation=isolation, workers=workers
    )
    call = [repr(sweep_id)]
    if name is not None:
        call.append(name)
    if count is not None:
        call.append(f"count={count}")
    shown, _ = db_in_command(db)
    if shown is not None:
        call.append(f"db={shown!r}")
    if workers is not None:
        call.append(f"workers={workers}")
    if isolation is not None:
        call.append(f"isolation={isolation!r}")
    text = f"{lead} `{command}` (Python: localsweep.agent({', '.join(call)}))."
    return f"{text} {note}" if note else text


def _function_names(function: str | Callable[..., Any] | None) -> tuple[str | None, str | None]:
    """``--function``'s ``MODULE:FUNC`` for ``function`` and its name in Python code; a
    function defined in a script run as ``__main__`` (or a lambda, a closure) has no
    import path to give: :data:`FUNCTION_PLACEHOLDER` stands for it."""
    if function is None:
        return None, None
    if isinstance(function, str):
        attr = function.rpartition(":")[2].rpartition(".")[2]
        return function, attr if attr.isidentifier() else "train"
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    name = getattr(function, "__name__", "")
    ref = FUNCTION_PLACEHOLDER
    if module and module not in ("__main__", "__mp_main__") and qualname and "<" not in qualname:
        ref = f"{module}:{qualname}"
    return ref, name if name.isidentifier() else "train"


#: The keys of a ``define_metric`` summary (``{"min": ..., "last": ...}``): such a dict is
#: one logged value, not a nest of keys.
_SUMMARY_AGGREGATES = frozenset({"min", "max", "last", "mean"})


def logged_keys(summary: Mapping[str, Any]) -> list[str]:
    """The keys a run logged, as its summary names them (dotted for nested dicts), without
    wandb's bookkeeping keys (``_step``, ``_runtime``...): the values first, then the media
    and histogram objects (``wandb.Table``, ``wandb.watch``'s, which wandb stores as dicts
    with a ``_type``), each by its own name, not their insides."""
    values, media = _split_keys(summary)
    return values + media


def _split_keys(summary: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """:func:`logged_keys` in two sorted lists: the values, and the media objects."""
    keys: list[str] = []
    media: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if not prefix and str(key).startswith("_"):
                continue
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and "_type" in value:
                media.append(name)
                continue
            keys.append(name)
            if isinstance(value, Mapping) and not (_SUMMARY_AGGREGATES & set(value)):
                walk(value, f"{name}.")

    walk(summary, "")
    return sorted(keys), sorted(media)


def _keys_of_runs(runs: Iterable[Any]) -> list[str]:
    """The keys any of ``runs`` logged, as :func:`logged_keys` orders them."""
    values: set[str] = set()
    media: set[str] = set()
    for run in runs:
        run_values, run_media = _split_keys(run.summary)
        values.update(run_values)
        media.update(run_media)
    return sorted(values) + sorted(media - values)


def not_a_number_kind(value: Any) -> str | None:
    """What a metric's summary ``value`` is when it is no number W&B would rank (``text``,
    ``a bool``, ``a list``...); ``None`` for a number (NaN too), nothing (``None``), or a
    ``define_metric`` summary (``{"min": ...}``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, Mapping):
        return None if _SUMMARY_AGGREGATES & set(value) else "a dict"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (int, float)):
        return None
    try:
        float(value)  # a numpy number
    except (TypeError, ValueError):
        return f"a {type(value).__name__}"
    return None


def keys_and_guess(metric: str, keys: Sequence[str], most: int = 12) -> tuple[str, str | None]:
    """``keys`` as a message lists them (the first ``most``, then how many more), and the
    one closest to ``metric`` (a misspelling's likely meaning), if any is close."""
    shown = ", ".join(keys[:most])
    if len(keys) > most:
        shown += f" (and {len(keys) - most} more)"
    close = difflib.get_close_matches(metric, keys, n=1, cutoff=0.5)
    return shown, close[0] if close else None


def missing_metric_message(
    metric: str,
    keys: Iterable[str],
    run_id: str | None = None,
    *,
    objective: bool = False,
    value: Any = None,
    others_ranked: bool = False,
) -> str:
    """Says that the sweep metric ``metric`` was never logged, naming the keys that were and
    the closest one: without the metric, no run is best, hyperband stops nothing and bayes
    learns nothing. ``objective``: ``metric`` is one of a multi-objective sweep's
    ``metrics`` (without it no run is on the Pareto front). Of one run (``run_id``) that
    logged the key (NaN, text) or when other runs have their result (``others_ranked``):
    it is this run that has none."""
    found = list(dict.fromkeys(keys))  # as logged_keys orders them: values, then media
    which = f"run {run_id} finished" if run_id else "the finished runs ended"
    what = "objective" if objective else "metric"
    text = f"the sweep {what} {metric!r} was never logged: {which} without it"
    kind = not_a_number_kind(value)
    if metric in found and kind is not None:
        # Logged as text ("0.833"), a bool, a list...: W&B does not read it as a number either.
        text = (
            f"the sweep {what} {metric!r} was logged as {kind}, not a number: {which} with "
            f"it {reprlib.repr(value)}; log a number (wandb.log({{{metric!r}: float(...)}}))"
        )
    elif metric in found:
        # Logged, but never as a finite number: NaN or infinite (a training that diverged).
        text = (
            f"the sweep {what} {metric!r} has no finite value: {which} with it not a "
            "finite number (NaN or infinite: did the training diverge?)"
        )
    elif found:
        shown, close = keys_and_guess(metric, found)
        text += f"; logged keys: {shown}"
        if close:
            field = "its `name` under `metrics`" if objective else "`metric.name`"
            text += f". Did you mean {close!r}? Fix {field} in the config or the "
            text += "key your code logs"
    else:
        text += (
            f" (its summary has nothing; log the {what} with wandb.log or return it, and "
            'keep it in the summary: define_metric(..., summary="none") leaves it out)'
        )
    if run_id and (others_ranked or (metric in found and kind is None)):
        # One run diverged, or lacks what the others logged: they have their result.
        if objective:
            return text + (
                ". This run has no result: it is on no Pareto front, and the search learns "
                "nothing from it."
            )
        return (
            text
            + ". This run has no result: it is not ranked, and the search learns nothing from it."
        )
    if objective:
        return text + ". Without it no run is on the Pareto front and the search learns nothing."
    return text + ". Without it no run is best, hyperband stops nothing, bayes learns nothing."


def sweep_metric_hint(sweep: Any) -> str | None:
    """For a :class:`~localsweep.api.Sweep` whose finished runs all lack the sweep metric
    (or one objective of its ``metrics``): :func:`missing_metric_message` with the keys
    they logged; else ``None``."""
    config = sweep.parsed_config
    if config.is_multi_objective:
        return _missing_objective_hint(sweep)
    metric = config.metric
    if metric is None:
        return None
    finished = [r for r in sweep.runs if r.state == "finished"]
    if not finished or any(r.metric is not None for r in finished):
        return None
    # A value one of them logged, to say what it was when it is no number (text, a bool).
    value = next((r.summary[metric.name] for r in finished if metric.name in r.summary), None)
    return missing_metric_message(metric.name, _keys_of_runs(finished), value=value)


def missing_objective_message(config: Any, run: Any, others_ranked: bool = False) -> str | None:
    """For a finished run of a multi-objective sweep (``config``) that lacks one of its
    objectives: :func:`missing_metric_message` for the first missing one; else ``None``."""
    from localsweep.search._multi import summary_value

    for metric in config.metrics:
        if summary_value(run.summary, metric.name, metric.goal) is None:
            keys = logged_keys(run.summary)
            return missing_metric_message(
                metric.name, keys, run.id, objective=True, others_ranked=others_ranked
            )
    return None


def _missing_objective_hint(sweep: Any) -> str | None:
    from localsweep.search._multi import summary_value

    finished = [r for r in sweep.runs if r.state == "finished"]
    for metric in sweep.parsed_config.metrics:
        if finished and all(
            summary_value(r.summary, metric.name, metric.goal) is None for r in finished
        ):
            return missing_metric_message(metric.name, _keys_of_runs(finished), objective=True)
    return None


def missing_program_message(
    program: str | None, command: Sequence[str] | None, cwd: str | os.PathLike[str]
) -> str | None:
    """Says that the script a program sweep hands to Python is not in ``cwd``, the folder
    its runs start in, with the closest file there; ``None`` when it is, or when the command
    does not hand ``${program}`` to ``${interpreter}`` or to ``python`` (``python3``,
    ``/usr/bin/python3.11``...) as wandb's examples write it (then it may be any
    executable).

    Python would fail to open it in every run, and the sweep would fill with failed runs.
    """
    from localsweep.agent._command import DEFAULT_COMMAND

    template = [str(element) for element in (command or DEFAULT_COMMAND)]
    as_script = any(
        element == "${program}" and i > 0 and _is_python(template[i - 1])
        for i, element in enumerate(template)
    )
    if not program or not as_script:
        return None
    folder = Path(cwd)
    path = folder / os.path.expanduser(program)
    if path.is_file():
        return None
    where = "does not exist" if not path.exists() else "is not a file"
    text = (
        f"the sweep's `program` {program!r} {where} in {folder}, the folder each run "
        f"starts `python {program}` in"
    )
    parent = path.parent
    names = [p.name for p in parent.iterdir() if p.is_file()] if parent.is_dir() else []
    # Compared without ".py", which every candidate shares and which would make any two
    # short names look alike (difflib rates `train.py` and `tail.py` 0.8 alike).
    scripts = {Path(n).stem: n for n in names if n.endswith(".py")}
    close = difflib.get_close_matches(path.stem, list(scripts), n=1, cutoff=0.75)
    if close:
        text += f". Did you mean {str(Path(program).parent / scripts[close[0]])!r}?"
    else:
        text += "."
    return (
        text + " Start the agent in the folder that holds the script, or create a sweep "
        "whose `program` names it (a path relative to where its agents start)."
    )


def _is_python(element: str) -> bool:
    """Whether a command element is a Python interpreter, which opens its next argument as
    a script relative to the working directory."""
    return (
        element == "${interpreter}"
        or re.fullmatch(r"python[0-9.]*", Path(element).name) is not None
    )


def unstartable_command_messages(
    program: str | None, command: Sequence[str] | None, cwd: str | os.PathLike[str]
) -> list[str]:
    """Says why a ``command`` would fail to start in every run (exit 127, as under wandb):
    a ``.py`` program run as an executable (no ``${interpreter}`` before ``${program}``)
    that is not one, or a literal interpreter that is not on ``PATH`` (``python4``).
    Empty when nothing is seen wrong."""
    if command is None or "${program}" not in command:
        return []
    executable = next((str(e) for e in command if str(e) != "${env}"), "")
    if executable != "${program}":
        if (
            executable.startswith("${")
            or not _is_python(executable)
            or shutil.which(executable)
            or Path(cwd, executable).is_file()
        ):
            return []
        return [
            f"`command` starts {executable!r}, which is not a program on PATH here: every "
            "run would fail to start (exit 127); write `${interpreter}` (the agent's "
            "Python) in its place"
        ]
    if not program or not program.endswith(".py"):
        return []
    path = Path(cwd) / os.path.expanduser(program)
    if "/" in program and os.access(path, os.X_OK) and path.is_file():
        return []
    if "/" not in program and shutil.which(program):
        return []
    why = (
        "a .py file that is not executable"
        if "/" in program or not os.access(path, os.X_OK)
        else "a .py file not on PATH (a program without a folder is looked for there)"
    )
    return [
        f"`command` starts the `program` {program!r} itself, without `${{interpreter}}`, "
        f"but it is {why}: every run would fail to start (exit 127, as under wandb). Add "
        "`${interpreter}` before `${program}` in `command` "
        "([${env}, ${interpreter}, ${program}, ${args}])"
    ]

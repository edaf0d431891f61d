"""What every ``localsweep`` command shares: ``--db`` and errors said as one line."""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from localsweep._console import CliConsole
from localsweep._console import safe_text as _e
from localsweep._hints import suggested_db_flag
from localsweep.errors import (
    ConfigError,
    DatabasePathError,
    DatabaseURLError,
    LocalsweepError,
    NetworkFilesystemError,
    NotFoundError,
    ProgramNotFoundError,
    SweepControlError,
)

__all__ = [
    "ALLOW_NETWORK_FS",
    "F",
    "db_option",
    "err_console",
    "execution_options",
    "friendly",
    "function_example",
    "function_options",
    "load_function",
    "max_failures_option",
    "nonempty_db",
    "suggested_db_flag",
]

err_console = CliConsole(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def _allow_network_fs(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # The store reads the environment, so the agents' child processes inherit the choice.
    if value:
        os.environ["LOCALSWEEP_ALLOW_NETWORK_FS"] = "1"


ALLOW_NETWORK_FS: dict[str, Any] = {
    "is_flag": True,
    "is_eager": True,
    "expose_value": False,
    "callback": _allow_network_fs,
    "help": "Open a SQLite file on NFS, Lustre... anyway [env LOCALSWEEP_ALLOW_NETWORK_FS=1].",
}


def nonempty_db(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse an empty ``--db`` (the callback of every ``--db`` option), exit code 2."""
    # `--db "$DB"` with DB unset would mean ./localsweep.db: each job of a cluster script
    # its own database in its own folder. An empty LOCALSWEEP_DB is unset (click gives None).
    if value is not None and not value.strip():
        raise click.BadParameter(
            "an empty --db names no database (an unset variable, most likely): give the "
            "database's path or URL, or leave --db out for LOCALSWEEP_DB or "
            "./localsweep.db"
        )
    return value


def db_option(fn: F) -> F:
    """``--db`` and ``--allow-network-fs``, for every command that opens the database."""
    fn = click.option("--allow-network-fs", **ALLOW_NETWORK_FS)(fn)
    return click.option(
        "--db",
        envvar="LOCALSWEEP_DB",
        default=None,
        callback=nonempty_db,
        metavar="URL",
        help="Database: a SQLite path or SQLAlchemy URL "
        "[env LOCALSWEEP_DB; default ./localsweep.db].",
    )(fn)


#: The user's mistakes: said in one line, exit code 2.
_BAD_INPUT = (
    ConfigError,
    NetworkFilesystemError,
    NotFoundError,
    SweepControlError,
    DatabasePathError,
    DatabaseURLError,
    ProgramNotFoundError,
)


def friendly(fn: F) -> F:
    """Turn our errors into a message and an exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except _BAD_INPUT as exc:
            if debug:
                raise
            err_console.print(f"[bold red]Error:[/] {_e(exc)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except LocalsweepError as exc:
            if debug:
                raise
            if isinstance(getattr(exc, "exit_code", None), int):  # SIGTERM: not an error
                # After SIGHUP the terminal may be gone: the exit code still says it.
                with contextlib.suppress(OSError):
                    err_console.print(_e(exc), highlight=False)
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            err_console.print(f"[bold red]Error:[/] {_e(exc)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        except Exception as exc:
            # The store maps what it expects; anything else from the database is still said
            # in one line. (SQLAlchemy is imported only by commands that open a database.)
            if debug or not type(exc).__module__.startswith("sqlalchemy"):
                raise
            from localsweep.store._urls import shown_url

            reason = shown_url(str(getattr(exc, "orig", None) or exc))
            err_console.print(f"[bold red]Database error:[/] {_e(reason)}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            message = str(exc) or "Interrupted."
            # Whole, not folded mid-word: the command it suggests must copy as printed.
            err_console.print(_e(message), highlight=False, soft_wrap=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------------------ agent, run


def _set_store_timeout(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # Through the environment, so that the store of every run's process gets it too.
    if value is not None:
        os.environ["LOCALSWEEP_STORE_TIMEOUT"] = str(value)


def execution_options(fn: F) -> F:
    """The options of `agent` and `run` that say how runs are executed."""
    options = [
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="Runs at a time, each in its own process [default: one per GPU, else 1].",
        ),
        click.option(
            "--gpus",
            default=None,
            metavar="0,1,...",
            help="Give each worker its own CUDA_VISIBLE_DEVICES, in turn.",
        ),
        click.option(
            "--isolation",
            type=click.Choice(["thread", "process"]),
            default="thread",
            show_default=True,
            help="With --function: run it in this process, or a fresh process per run.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="SECONDS",
            help="End a run that takes longer (program mode or --isolation process).",
        ),
        click.option(
            "--store-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            expose_value=False,
            callback=_set_store_timeout,
            metavar="SECONDS",
            help="How long to retry when the database cannot be reached before stopping "
            "[env LOCALSWEEP_STORE_TIMEOUT; default 180].",
        ),
        click.option(
            "--grace-period",
            # wandb agent's name for it: the wait before a stopped run is killed.
            "--term-timeout",
            "-t",
            "grace_period",
            type=click.FloatRange(min=0),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="Wait between SIGINT, SIGTERM and SIGKILL when a child run is stopped "
            "(wandb agent's --term-timeout).",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            default=False,
            help="No progress: neither the bar (in a terminal) nor a line per run (elsewhere).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def function_options(fn: F) -> F:
    """``--function``, ``--project`` and ``--entity`` of `agent` and `run` (the last two
    said as `localsweep sweep` says them)."""
    fn = click.option(
        "--entity", "-e", default=None, help="wandb entity (kept for `localsweep sync`)."
    )(fn)
    fn = click.option(
        "--project", "-p", default=None, help="wandb project the runs are filed under."
    )(fn)
    return click.option(
        "--function",
        "-f",
        "function_ref",
        default=None,
        metavar="MODULE:FUNC",
        callback=_check_function_form,
        help="Run a Python function in-process instead of the config's program.",
    )(fn)


def _check_function_form(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    """Refuse a ``--function`` without ``MODULE:FUNC``'s colon as the option is read,
    before click's own errors: ``wandb agent -f ID`` (wandb's ``-f``, a flag) gives -f the
    sweep id here, and click would then say only that SWEEP_ID is missing."""
    if value is None or ":" in value:
        return value
    wandb_f = (
        "wandb agent's -f is --forward-signals, a flag without a value, which localsweep "
        "does not need (it always forwards signals to its runs): drop it"
    )
    folder = os.getcwd()
    if value.endswith(".py") or "/" in value or os.sep in value:
        raise click.UsageError(_file_ref(value, folder))
    if not all(part.isidentifier() for part in value.split(".")):
        # `-f ls-k3j9x2ab`, `-f --count`: no module name, so most likely wandb's -f.
        raise click.UsageError(f"-f is --function MODULE:FUNC here, got {value!r}: {wandb_f}")
    raise click.UsageError(f"{_malformed_ref(value, folder)} ({wandb_f})")


# `wandb agent`'s name for it; `localsweep agent` and `localsweep run` both take it.
max_failures_option = click.option(
    "--max-consecutive-failed-runs",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many runs in a row have failed.  [default: 5, or "
    "$WANDB_AGENT_MAX_INITIAL_FAILURES]",
)


# ------------------------------------------------------------------------------ --function


def load_function(ref: str) -> Callable[..., Any]:
    """Import ``--function MODULE:FUNC`` from the current folder, as ``localsweep agent``,
    ``run`` and ``slurm`` do. Every way it can fail (a mistyped name, or the module's own
    code raising as it is imported, ``sys.exit`` included) is a :class:`click.UsageError`
    that names the fix.

    From the import on, ``sys.argv`` is what ``python train.py`` gives a script that
    calls ``wandb.agent(sweep_id, function=train)``: ``[<the module's file>]`` (``[""]``
    for a module without one), not localsweep's own arguments, which an ``argparse`` in
    the module or the function would reject. Runs in their own process
    (``--isolation process``) get the same: it is part of what *spawn* hands a child."""
    folder = os.getcwd()
    module_name, colon, attr = ref.partition(":")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise click.UsageError(_file_ref(ref, folder))
    if not colon or not module_name or not attr:
        raise click.UsageError(_malformed_ref(ref, folder))
    sys.path.insert(0, folder)
    cli_argv = sys.argv
    sys.argv = [_module_file(module_name) or ""]
    try:
        module = _import(module_name, attr, folder)
    except BaseException:
        sys.argv = cli_argv
        raise
    sys.argv = [getattr(module, "__file__", None) or ""]
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise click.UsageError(_missing_attribute(module, module_name, attr, part, target))
        target = getattr(target, part)
    if not callable(target):
        raise click.UsageError(f"{ref} is not callable: --function names a function")
    return target


def _import(module_name: str, attr: str, folder: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise click.UsageError(_module_not_found(module_name, attr, folder)) from exc
        raise click.UsageError(_import_failed(module_name, exc)) from exc
    except (Exception, SystemExit) as exc:  # the module's own code failed as it was imported
        raise click.UsageError(_import_failed(module_name, exc)) from exc


def _module_file(module_name: str) -> str | None:
    """The file ``module_name`` would be imported from, found without running any code
    (``None`` when only an import would tell): the ``sys.argv[0]`` its code sees."""
    from importlib.machinery import PathFinder

    if module_name in sys.modules:
        return getattr(sys.modules[module_name], "__file__", None)
    search: Any = None
    spec = None
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        try:
            spec = PathFinder.find_spec(".".join(parts[:depth]), search)
        except (ImportError, ValueError):  # a name no file can have: the import says why
            return None
        if spec is None:
            return None
        search = spec.submodule_search_locations
        if search is None and depth < len(parts):
            return None
    return spec.origin if spec is not None and spec.has_location else None


def _file_ref(ref: str, folder: str) -> str:
    """``--function`` given a file (``train.py:train``, ``sub/train.py``, ``../t.py:f``):
    the module name that imports it from ``folder``, or, for a file outside ``folder``, the
    command that puts the file's folder on ``PYTHONPATH``."""
    file_part, _, attr = ref.partition(":")
    path = Path(folder) / file_part
    if path.suffix != ".py":
        path = path.with_name(path.name + ".py")
    path = Path(os.path.normpath(path))
    if not attr:
        functions = _module_functions(path)
        attr = _likely_function(functions) if functions else "FUNC"
    here = Path(os.path.normpath(folder))
    if path.is_relative_to(here):
        dotted = ".".join(path.relative_to(here).with_suffix("").parts)
        return (
            f"--function takes MODULE:FUNC, a module name, not a file, got {ref!r}: "
            f"drop the `.py` (--function {dotted}:{attr})"
        )
    text = (
        f"--function takes MODULE:FUNC, a module imported from the working folder "
        f"({folder}), not a file, got {ref!r}"
    )
    if not path.is_file():
        return f"{text}; there is no file {path} either: check the path"
    module = f"{path.stem}:{attr}"
    where = path.parent
    return (
        f"{text}: {path} is outside that folder. Put its folder on PYTHONPATH and name the "
        f"module: {_command_with(ref, module, where)} (or start the agent in {where}, with "
        f"--function {module} and paths relative to that folder)"
    )


def _command_with(ref: str, module: str, where: Path) -> str:
    """This command line, ``--function`` given ``module``, with ``where`` on PYTHONPATH."""
    import shlex

    args = list(sys.argv[1:])
    for i, arg in enumerate(args):
        if arg == ref and i > 0 and args[i - 1] in ("--function", "-f"):
            args[i] = module
            break
        if arg in (f"--function={ref}", f"-f{ref}"):
            args[i] = f"--function={module}"
            break
    else:
        args = ["...", "--function", module]
    before = ":$PYTHONPATH" if os.environ.get("PYTHONPATH") else ""
    command = " ".join(shlex.quote(a) if a != "..." else a for a in args)
    return f"PYTHONPATH={shlex.quote(str(where))}{before} localsweep {command}"


def _malformed_ref(ref: str, folder: str) -> str:
    text = f"--function takes MODULE:FUNC (a colon, not a dot), got {ref!r}"
    stem = ref.partition(":")[0].removesuffix(".py")
    if "." in stem:
        module, _, func = stem.rpartition(".")
        return f"{text}: did you mean --function {module}:{func}?"
    functions = _module_functions(Path(folder) / f"{stem}.py")
    if functions:
        return f"{text}: did you mean --function {stem}:{_likely_function(functions)}?"
    return text + " (for train() in train.py: --function train:train)"


def _module_not_found(module_name: str, attr: str, folder: str) -> str:
    text = (
        f"cannot import {module_name!r} for --function: No module named {module_name!r} "
        f"in {folder}, the folder it is imported from"
    )
    here = Path(folder)
    names = [p.stem for p in here.glob("*.py")] + [
        p.name for p in here.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    ]
    close = difflib.get_close_matches(module_name, names, n=1, cutoff=0.6)
    if close:
        return f"{text}. Did you mean --function {close[0]}:{attr}?"
    above = here.parent / f"{module_name.replace('.', '/')}.py"
    if above.is_file():
        return f"{text}; {above} is one folder up: start the agent in {here.parent}"
    return f"{text}. Start the agent in the folder that holds the module (MODULE without `.py`)."


def _missing_attribute(module: Any, module_name: str, attr: str, part: str, where: Any) -> str:
    source = getattr(module, "__file__", None) or module_name
    names = [n for n in dir(where) if not n.startswith("_") and callable(getattr(where, n))]
    defined = [n for n in names if getattr(getattr(where, n), "__module__", None) == module_name]
    text = f"{module_name!r} has no attribute {part!r} ({source})"
    close = difflib.get_close_matches(part, defined or names, n=1, cutoff=0.6)
    prefix = attr[: -len(part)] if attr.endswith(part) else ""
    if close:
        return f"{text}. Did you mean --function {module_name}:{prefix}{close[0]}?"
    if defined:
        return f"{text}; it defines {', '.join(sorted(defined)[:8])}"
    return text


def _import_failed(module_name: str, exc: BaseException) -> str:
    """One line for a module whose code raised as it was imported, at the user's own line
    (the frames of importlib and localsweep left out)."""
    if isinstance(exc, SyntaxError):
        line = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        return (
            f"importing {module_name!r} for --function failed: {type(exc).__name__}: "
            f"{exc.msg} ({exc.filename}, line {exc.lineno}{line})"
        )
    where = _user_frame(exc)
    at = f" ({where})" if where else ""
    if isinstance(exc, SystemExit):
        return (
            f"importing {module_name!r} for --function failed: its code called "
            f"sys.exit({exc.code!r}) as it was imported{at}; put the script's top-level code "
            'under `if __name__ == "__main__":`'
        )
    return f"importing {module_name!r} for --function failed: {type(exc).__name__}: {exc}{at}"


def _user_frame(exc: BaseException) -> str | None:
    """``FILE, line N`` of the innermost frame in the user's own files (under the current
    folder, not in an installed package: a venv may be there), else of the innermost frame
    outside importlib."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    frames = [f for f in frames if "importlib" not in f.filename]
    here = os.getcwd() + os.sep
    own = [
        f
        for f in frames
        if os.path.abspath(f.filename).startswith(here) and "-packages" not in f.filename
    ] or frames
    if not own:
        return None
    return f"{own[-1].filename}, line {own[-1].lineno}"


def _module_functions(path: Path) -> list[str]:
    """The top-level functions ``path`` defines (read, not imported), or ``[]``."""
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not n.name.startswith("_")
    ]


def _likely_function(functions: list[str]) -> str:
    for name in ("main", "train"):
        if name in functions:
            return name
    return functions[0]


def function_example(folder: str) -> str:
    """``--function train:main for main() in train.py``, with a function ./train.py
    defines where there is one."""
    functions = _module_functions(Path(folder) / "train.py")
    name = _likely_function(functions) if functions else "main"
    return f"--function train:{name} for {name}() in train.py"

"""``--function MODULE:FUNC``: the user's training function imported from the current
folder, and every way that can fail said as the fix (``localsweep agent``, ``run``, ``slurm``)."""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["check_function_form", "function_example", "load_function"]


def check_function_form(
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
    if _WANDB_SWEEP_ID.fullmatch(value) and _given_as_short_f(value):  # `wandb agent -f ID`
        raise click.UsageError(f"{_malformed_ref(value, folder)} ({wandb_f})")
    raise click.UsageError(_malformed_ref(value, folder))


#: What a W&B sweep id looks like: 8 lowercase letters and digits.
_WANDB_SWEEP_ID = re.compile(r"[a-z0-9]{8}")


def _given_as_short_f(value: str) -> bool:
    """Whether the command line gave ``value`` to ``-f`` (wandb agent's flag), not to
    ``--function``."""
    args = sys.argv[1:]
    return any(
        a == f"-f{value}" or (a == "-f" and i + 1 < len(args) and args[i + 1] == value)
        for i, a in enumerate(args)
    )


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
    try:
        folder = os.getcwd()
    except FileNotFoundError:
        from localsweep._agent_options import folder_gone

        gone = folder_gone()
        raise click.ClickException(
            str(gone) if gone else "the working folder was deleted"
        ) from None
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
    from localsweep._shell import shell_quote

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
    command = " ".join(shell_quote(a) if a != "..." else a for a in args)
    return f"PYTHONPATH={shell_quote(str(where))}{before} localsweep {command}"


def _malformed_ref(ref: str, folder: str) -> str:
    if ":" in ref:
        sep = "a module before the colon and a function after it"
    elif "." in ref.removesuffix(".py"):
        sep = "a colon, not a dot"
    else:
        sep = "with a colon"
    text = f"--function takes MODULE:FUNC ({sep}), got {ref!r}"
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

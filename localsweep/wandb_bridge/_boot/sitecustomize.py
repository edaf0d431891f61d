"""Loaded at start-up by every Python process of a program-mode run (``site`` imports the
first ``sitecustomize`` on ``sys.path``; localsweep puts this folder first on the run's
``PYTHONPATH``, as ``ddtrace-run`` does for its tracer). It does two things, and nothing
more until ``wandb`` is imported:

- when ``wandb`` is imported, its ``init`` is replaced by ``offline_init`` of it
  (``localsweep/wandb_bridge/_forced_offline.py``, loaded by file path: the user's Python
  need not have localsweep installed), so that ``wandb.init(mode="online")`` in the training
  code runs offline, as ``WANDB_MODE=offline`` cannot make it (nor keep it when the code
  sets ``WANDB_MODE`` itself, or clears it for its own children); the mode asked for is
  appended to the file ``LOCALSWEEP_FORCED_OFFLINE_NOTE`` names, for the agent's one
  warning per sweep (printed on stderr instead when that file cannot be written); each
  call, and then the id and folder of the run it started, is appended to the file
  ``LOCALSWEEP_RUN_DIR_NOTE`` names, so that the agent finds a run whose folder
  ``wandb.init(dir=...)`` or ``WANDB_DIR`` set by the code put elsewhere;
- ``wandb.sdk.init`` and ``wandb.sdk.wandb_init.init`` (the same function) get the same
  wrapper, and the settings of every ``wandb.init`` call, under whatever name, are made
  offline where wandb resolves them (``guard_init_settings``);
- ``wandb.login`` is wrapped likewise, so that it checks nothing with a server;
- in a resumed run's process (``LOCALSWEEP_RESUME_STEP`` set), the run of id
  ``WANDB_RUN_ID`` is marked resumed and goes on from that ``_step``, as W&B's server
  resumes it online (``localsweep/wandb_bridge/_resume.py``, loaded by file path too);
- it runs the ``sitecustomize`` this one hides (the next on ``sys.path``), if any.

A process started with ``python -S``, ``-I`` or ``-E``, or without this ``PYTHONPATH``,
does not load it: there the workspace settings file (``mode = offline``) still covers
every ``wandb.init`` that does not ask for a mode itself, in a process whose ``WANDB_MODE``
is unset or offline and whose root dir is the agent's (its working directory or
``WANDB_DIR``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_NOTE_VARIABLE = "LOCALSWEEP_FORCED_OFFLINE_NOTE"
_RUN_DIR_VARIABLE = "LOCALSWEEP_RUN_DIR_NOTE"
_RESUME_STEP_VARIABLE = "LOCALSWEEP_RESUME_STEP"
_RESUME_SUMMARY_VARIABLE = "LOCALSWEEP_RESUME_SUMMARY"
# Read now: the program may clear WANDB_* before it calls wandb.init.
_RESUMING = (
    os.environ.get("WANDB_RUN_ID"),
    os.environ.get(_RESUME_STEP_VARIABLE),
    os.environ.get(_RESUME_SUMMARY_VARIABLE),
)


def _load_sibling(name: str = "_forced_offline") -> Any:
    path = os.path.join(os.path.dirname(_HERE), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_localsweep{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _note(asked: str) -> None:
    # The agent warns once per sweep from the notes; said here only when it cannot be.
    path = os.environ.get(_NOTE_VARIABLE)
    try:
        if not path:
            raise OSError("no note file")
        with open(path, "a", encoding="utf-8") as f:
            f.write(asked + "\n")
    except OSError:
        how = asked if asked.startswith("WANDB_MODE=") else f"mode={asked!r}"
        sys.stderr.write(
            f"localsweep: WARNING wandb.init was called with {how}; this localsweep "
            "run is offline (nothing leaves the machine): `localsweep sync` uploads it later\n"
        )


def _started(run: Any) -> None:
    # "init" before the call (the agent then knows one was made), "<id>\t<folder>" after.
    path = os.environ.get(_RUN_DIR_VARIABLE)
    if not path:
        return
    try:
        if run is None:
            line = "init"
        else:
            folder = getattr(getattr(run, "settings", None), "sync_dir", None)
            folder = folder or os.path.dirname(run.dir)
            line = f"{run.id}\t{os.path.abspath(folder)}"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except Exception:  # never break the user's run: the agent then looks in its own folder
        pass


def _patch(module: Any) -> None:
    init = getattr(module, "init", None)
    if init is None or getattr(init, "__localsweep_offline__", False):
        return
    forced = _load_sibling()
    # This process is a run's, started by the agent (which gives it WANDB_MODE=offline) or
    # by the run's code: a WANDB_MODE it started with that is not offline was set by that
    # code, not by the shell the agent was started from.
    forced._STARTED_WITH_MODE = None
    offline = forced.offline_init(init, _note, _started)
    module.init = offline
    # wandb's other names for the same function, and the one hook every name goes through
    # (a reference bound before this patch, a newer name): offline by the same rules.
    sdk: Any = getattr(module, "sdk", None)
    for where in (sdk, getattr(sdk, "wandb_init", None)):
        if where is not None and getattr(where, "init", None) is init:
            where.init = offline
    forced.guard_init_settings(lambda: True, _note)
    login = getattr(module, "login", None)
    if login is not None and not getattr(login, "__localsweep_offline__", False):
        module.login = forced.offline_login(login)  # it would check the key with the server
    run_id, step, summary = _RESUMING
    if run_id and step and step.isdigit():
        try:
            from wandb.sdk.wandb_run import Run

            if not getattr(Run._set_backend, "__localsweep_resume__", False):
                resume = _load_sibling("_resume")
                steps = {run_id: int(step)}
                summaries = {run_id: _earlier_summary(summary)}
                Run._set_backend = resume.resuming_set_backend(  # type: ignore[method-assign]
                    Run._set_backend, steps.get, summaries.get
                )
        except Exception as exc:  # the run then starts as offline wandb starts it
            sys.stderr.write(f"localsweep: cannot mark the resumed run resumed: {exc!r}\n")


def _earlier_summary(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        import json

        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _WandbFinder:
    """Finds nothing itself: wraps the loader of ``wandb`` so that its ``init`` is patched
    right after the package is executed, before any user code can take it.

    It stays on ``sys.meta_path`` until wandb is executed: a program may look for wandb
    first (``importlib.util.find_spec("wandb")``, as transformers'
    ``is_wandb_available()`` does) and import it later, through a spec of its own."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "wandb" or self._finding:
            return None
        self._finding = True  # the finders after this one find wandb
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader: Any = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)  # wandb is imported: nothing more to find
            try:
                _patch(module)
            except Exception as exc:  # never break the user's import of wandb
                sys.stderr.write(f"localsweep: cannot keep wandb.init offline: {exc!r}\n")

        loader.exec_module = exec_module
        return spec


def _chain_sitecustomize() -> None:
    """Run the ``sitecustomize`` that this one hides, as ``site`` would have."""
    this = sys.modules.pop("sitecustomize")
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    try:
        importlib.import_module("sitecustomize")  # the user's own, if any
    except ModuleNotFoundError as exc:
        if exc.name != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved
        sys.modules.setdefault("sitecustomize", this)


if __name__ == "sitecustomize":
    if "wandb" in sys.modules:
        _patch(sys.modules["wandb"])
    else:
        sys.meta_path.insert(0, _WandbFinder())
    _chain_sitecustomize()

"""How a Python function reaches the fresh process of an ``isolation="process"`` run: the
way ``multiprocessing``'s *spawn* start method sends it, by reference when the child can
import it, else by value with ``cloudpickle`` (see :mod:`._isolated`)."""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

from localsweep.errors import AgentError

__all__ = ["load_function", "pickle_function"]


def _importable_by_reference(function: Callable[..., Any]) -> bool:
    module_name = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if not module_name or "<" in qualname:  # <lambda>, <locals>
        return False
    module = sys.modules.get(module_name)
    if module is None:
        return False
    if module_name == "__main__" and not _main_reimportable(module):
        return False
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if target is not function:
        return False
    try:
        pickle.dumps(function)
    except Exception:
        return False
    return True


def _main_reimportable(module: Any) -> bool:
    """A script (or ``python -m``) can be re-imported in the child; a REPL, a notebook or
    a script read from standard input (``python - <<EOF``: its ``__file__`` is
    ``<stdin>``) cannot."""
    if getattr(module, "__spec__", None) is not None:
        return True
    path = getattr(module, "__file__", None)
    return path is not None and os.path.isfile(path)


def pickle_function(function: Callable[..., Any]) -> tuple[str, bytes]:
    """``function`` as ``(how, bytes)`` for a fresh process: ``"pickle"`` by reference when
    it can be imported there, else ``"cloudpickle"`` by value. Raises :class:`AgentError`
    when neither works."""
    if _importable_by_reference(function):
        return "pickle", pickle.dumps(function)
    try:
        import cloudpickle  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        cloudpickle = None
    name = getattr(function, "__qualname__", repr(function))
    if cloudpickle is not None:
        try:
            return "cloudpickle", cloudpickle.dumps(function)
        except Exception as exc:
            raise AgentError(
                f"isolation='process' cannot send {name} to a fresh process: cloudpickle "
                f"failed ({exc}). Define the function at the top level of a module."
            ) from exc
    raise AgentError(
        f"isolation='process' runs {name} in a fresh Python process, which must be able to "
        "import it: define it at the top level of a module or of your script (and call "
        "localsweep.agent under `if __name__ == '__main__':`), not inside another function, "
        "as a lambda, in a notebook or in a script read from standard input; or install "
        "cloudpickle to send it by value"
    )


def load_function(how: str, data: bytes) -> Callable[..., Any]:
    if how == "cloudpickle":
        import cloudpickle

        function: Callable[..., Any] = cloudpickle.loads(data)
    else:
        function = pickle.loads(data)
    return function

"""Names a package exports but imports only when first used (PEP 562).

``localsweep --help`` and ``localsweep validate`` need neither SQLAlchemy, wandb, Optuna nor
plotly; importing them up front cost most of a second of CPU per command.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_module", "lazy_names"]


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a submodule)
    on first access of ``name`` and caches the value in the package."""

    def __getattr__(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__


class _LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy_module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it at its first attribute access
    (``scipy.optimize`` and ``scipy.stats.qmc`` cost a second of CPU; an agent's first
    claims never use them)."""
    return _LazyModule(name)

"""The optional packages the report needs, and the error that names the extra to install."""

from __future__ import annotations

import importlib

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """A package of the ``localsweep[report]`` extra is not installed."""


def require(module: str, feature: str, extra: str = "report") -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        package = {"sklearn": "scikit-learn"}.get(module, module)
        raise MissingExtraError(
            f"{feature} needs {package}, which is not installed; "
            f"install the {extra} extra: pip install 'localsweep[{extra}]'"
        ) from exc

"""The optional packages the report needs, and the error that names the extra to install."""

from __future__ import annotations

import importlib

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """A package the report needs (plotly, scikit-learn; both dependencies of localsweep)
    is missing, as in an environment assembled by hand."""


def require(module: str, feature: str, extra: str | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        package = {"sklearn": "scikit-learn"}.get(module, module)
        raise MissingExtraError(
            f"{feature} needs {package}, which is not installed; "
            + (
                f"install the {extra} extra: pip install 'localsweep[{extra}]'"
                if extra
                else f"it is a dependency of localsweep: pip install {package}"
            )
        ) from exc

"""The optional packages the report needs, and the error that names the extra to install."""

from __future__ import annotations

import importlib

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """A package the report needs (plotly, scikit-learn; both dependencies of localsweep)
    is missing, as in an environment assembled by hand."""


def require(module: str, feature: str, extra: str | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported: saying it is not
    installed, or, when it is and loading it failed (a memory cap: a shared library that
    cannot be mapped, ``MemoryError``), why."""
    package = {"sklearn": "scikit-learn"}.get(module, module)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            f"{feature} needs {package}, which is not installed; "
            + (
                f"install the {extra} extra: pip install 'localsweep[{extra}]'"
                if extra
                else f"it is a dependency of localsweep: pip install {package}"
            )
        ) from exc
    except (ImportError, MemoryError, SystemError, OSError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise MissingExtraError(
            f"{feature} needs {package}, which is installed but could not be loaded "
            f"({why}); out of memory? Is the address space capped (ulimit -v)?"
        ) from exc

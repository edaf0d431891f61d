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
        if exc.name is not None and exc.name.split(".")[0] != module:
            # It is there, one of its own dependencies is not (`pip install` brings it).
            raise MissingExtraError(
                f"{feature} needs {package}, which is installed but cannot be loaded: it "
                f"needs {exc.name}, which is not installed; pip install --force-reinstall "
                f"{package} brings what it needs"
            ) from exc
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
        memory = isinstance(exc, MemoryError) or any(
            words in why.lower()
            for words in ("map segment", "cannot allocate memory", "memory allocation")
        )
        raise MissingExtraError(
            f"{feature} needs {package}, which is installed but could not be loaded ({why})"
            + ("; out of memory? Is the address space capped (ulimit -v)?" if memory else "")
        ) from exc

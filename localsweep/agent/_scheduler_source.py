"""Where a ``method: custom`` sweep's ``scheduler.source`` is, checked without importing
Optuna: ``validate``, ``sweep`` and ``localsweep.sweep`` refuse a missing file before the
sweep is made (a grid or random sweep must not pay for Optuna's import)."""

from __future__ import annotations

from pathlib import Path

from localsweep.config import Method, SweepConfig
from localsweep.errors import ConfigError, Violation

__all__ = ["check_source"]


def _error(path: str, message: str) -> ConfigError:
    return ConfigError([Violation(path, message)])


def _source_path(source: str, base_dir: str | None) -> Path:
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    if not path.is_file():
        where = "the config file's directory" if base_dir else "the working directory"
        raise _error(
            "scheduler.source",
            f"no Python file {str(path)!r} ({source!r} is read relative to {where}); "
            "check the path",
        )
    return path


def _user_source(config: SweepConfig) -> str | None:
    """The ``scheduler.source`` an agent of this sweep imports (``None`` if it imports none)."""
    scheduler = config.scheduler
    if config.method is not Method.CUSTOM or scheduler is None or scheduler.engine != "optuna":
        return None
    if not (scheduler.optimizer or scheduler.search_space):
        return None
    return scheduler.source


def check_source(config: SweepConfig) -> None:
    """Raise the agent's :class:`ConfigError` now if ``scheduler.source`` names no file,
    read as an agent of the sweep would (relative to the config file's directory, else to
    the working directory): ``validate`` and ``sweep`` refuse it instead of making a sweep
    whose every agent fails at start."""
    source = _user_source(config)
    if source is not None:
        _source_path(source, config.source_dir)

"""The project and entity a new sweep is filed under, found as ``wandb sweep`` finds them.

wandb 0.31's ``wandb sweep`` (``wandb/cli/cli.py``) takes, for the entity, ``--entity``, then
``WANDB_ENTITY``, then the config's ``entity``, then the settings files' ``entity`` (and then
asks the server for the user's default entity: not done here); for the project,
``--project``, then ``WANDB_PROJECT``, then the config's ``project``, then the settings
files' ``project``, then ``wandb.util.auto_project_name(program)``: the name of the git
repository the working directory is in (with ``-<path>`` of the program's folder inside it,
``/`` as ``_``), or ``uncategorized`` outside one. The settings files are the global one
(``$WANDB_CONFIG_DIR/settings``, else ``~/.config/wandb/settings``) and the workspace one
(``wandb/settings``, or ``.wandb/settings``, in the working directory), the workspace one
winning, both read from their ``[default]`` section as wandb reads them.

``uncategorized`` is returned as ``None``: a sweep with no project (its runs are filed under
``uncategorized``, wandb's name for that).
"""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from localsweep.wandb_bridge._offline import workspace_settings_path

__all__ = ["UNCATEGORIZED", "sweep_entity", "sweep_project"]

logger = logging.getLogger(__name__)

#: wandb's project for runs that name none.
UNCATEGORIZED = "uncategorized"


def _settings_files(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    config_dir = environ.get("WANDB_CONFIG_DIR")
    global_dir = Path(config_dir).expanduser() if config_dir else Path("~/.config/wandb")
    return [global_dir.expanduser() / "settings", workspace_settings_path(cwd)]


def _from_settings_files(name: str, environ: Mapping[str, str], cwd: Path) -> str | None:
    value = None
    for path in _settings_files(environ, cwd):
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except (OSError, configparser.Error) as exc:
            logger.warning("cannot read wandb's settings file %s: %s", path, exc)
            continue
        value = parser.get("default", name, fallback=None) or value
    return value


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def auto_project_name(program: str | None, cwd: Path) -> str:
    """``wandb.util.auto_project_name``: the git repository's name (and the program's
    folder in it), or ``uncategorized`` outside a repository."""
    root = _git_root(cwd)
    if root is None:
        return UNCATEGORIZED
    name = root.name
    if program is None:
        return name
    folder = Path(os.path.abspath(cwd / program)).parent
    if not str(folder).startswith(str(root)):
        return name
    inside = os.path.relpath(folder, root)
    if inside != ".":
        name += "-" + inside
    return name.replace(os.sep, "_")


def sweep_project(
    project: str | None,
    config_project: str | None,
    program: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> str | None:
    """The project a new sweep is filed under (``None`` for ``uncategorized``)."""
    environ = os.environ if environ is None else environ
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    found = (
        project
        or environ.get("WANDB_PROJECT")
        or config_project
        or _from_settings_files("project", environ, here)
        or auto_project_name(program, here)
    )
    return None if found == UNCATEGORIZED else found


def sweep_entity(
    entity: str | None,
    config_entity: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> str | None:
    """The entity a new sweep is filed under (``None``: W&B's default for the user)."""
    environ = os.environ if environ is None else environ
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    return (
        entity
        or environ.get("WANDB_ENTITY")
        or config_entity
        or _from_settings_files("entity", environ, here)
        or None
    )

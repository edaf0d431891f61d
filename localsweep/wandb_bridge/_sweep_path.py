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

__all__ = ["UNCATEGORIZED", "no_home_message", "settings_dir", "sweep_entity", "sweep_project"]

logger = logging.getLogger(__name__)

#: wandb's project for runs that name none.
UNCATEGORIZED = "uncategorized"


def settings_dir(environ: Mapping[str, str]) -> Path | None:
    """wandb's folder for its global settings (``WANDB_CONFIG_DIR``, else
    ``~/.config/wandb``), or ``None`` when there is no home folder to find it in."""
    config_dir = environ.get("WANDB_CONFIG_DIR")
    try:
        return Path(config_dir or "~/.config/wandb").expanduser()
    except RuntimeError:  # HOME unset, and this user ID has no passwd entry
        return None


def no_home_message(environ: Mapping[str, str] | None = None) -> str | None:
    """Why wandb cannot start a run in this environment for lack of a home folder (a
    container's user ID of its own, with HOME unset: ``env -i``, some batch systems), and
    the fix; ``None`` when it can. ``wandb.init`` fails there with "Could not determine home
    directory" (and a process that goes on past that failure has wandb's settings half
    read: online, every ``WANDB_*`` variable ignored)."""
    environ = os.environ if environ is None else environ
    if settings_dir(environ) is not None:
        return None
    given = environ.get("WANDB_CONFIG_DIR")
    why = f"WANDB_CONFIG_DIR ({given}) starts with ~," if given else "HOME is not set,"
    return (
        f"wandb cannot find its settings folder: {why} and user ID {os.getuid()} has no "
        "entry in the password database (a container run with a user ID of its own, or a "
        "job started with env -i), so this process has no home folder, and wandb.init "
        "fails without one. Set HOME to a writable folder (export HOME=$PWD), or "
        "WANDB_CONFIG_DIR to a folder for wandb's settings, and start again"
    )


def _settings_files(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    found = settings_dir(environ)
    workspace = workspace_settings_path(cwd)
    return [found / "settings", workspace] if found is not None else [workspace]


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

"""The command line, files and environment of a program-mode run, as ``wandb agent`` builds them.

A sweep config with ``program:`` (and optionally ``command:``) is run the way ``wandb agent``
runs it: one child process per run, whose argv comes from the command template with its
``${...}`` macros expanded from the run's parameters. Everything here is pure: the caller
writes the files and starts the process.

The behaviour matches wandb 0.31 (``wandb_agent.Agent._command_run`` and
``sdk/launch/sweeps/utils.py``), checked against ``tests/golden/macros.json``, which was
recorded from wandb itself. The one deliberate difference: ``${interpreter}`` is the agent's
own Python by default rather than whatever ``python`` is first on ``PATH``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from localsweep.errors import ConfigError, Violation

__all__ = [
    "DEFAULT_COMMAND",
    "ChildCommand",
    "args_json_file_path",
    "build_command",
    "child_env",
    "param_file_content",
    "param_file_path",
    "sweep_dir_for",
]

logger = logging.getLogger(__name__)

#: The command wandb runs when the sweep config has no ``command`` (or an empty one).
DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")

# Upper case, digits and underscores only: wandb leaves ``${envvar:lower}`` alone (and, as a
# whole element, drops it as an unknown macro), so a wider pattern would change meaning.
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")


@dataclass(frozen=True)
class ChildCommand:
    """What to start for one run.

    ``argv`` is the exact argument list for ``subprocess.Popen`` (never joined into a shell
    string). ``files`` maps each path the command refers to (today only the
    ``${args_json_file}`` JSON) to its content; write them, UTF-8, before starting the child.
    Their directory is the run's sweep directory, which the caller creates.
    """

    argv: tuple[str, ...]
    files: Mapping[str, str]


def sweep_dir_for(wandb_dir: str | os.PathLike[str], sweep_id: str) -> str:
    """The folder wandb's agent keeps a sweep's run files in: ``<WANDB_DIR>/wandb/sweep-<id>``."""
    return os.path.join(os.fspath(wandb_dir), "wandb", f"sweep-{sweep_id}")


def param_file_path(sweep_dir: str | os.PathLike[str], run_id: str) -> str:
    """Where the run's parameter YAML goes; the child finds it via ``WANDB_SWEEP_PARAM_PATH``."""
    return os.path.join(os.fspath(sweep_dir), f"config-{run_id}.yaml")


def args_json_file_path(sweep_dir: str | os.PathLike[str], run_id: str) -> str:
    """The path ``${args_json_file}`` expands to."""
    return os.path.join(os.fspath(sweep_dir), f"config-{run_id}.json")


def _plain(value: Any) -> Any:
    """Turn mappings and sequences into the dicts and lists wandb gets from JSON.

    wandb renders values with ``str()``, so a tuple would otherwise print as ``(1, 2)`` where
    wandb prints ``[1, 2]``.
    """
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _expand_envvars(element: str, environ: Mapping[str, str]) -> str:
    # A variable that is not set becomes its own name, as in wandb.
    return _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), element)


def _macro_values(
    params: Mapping[str, Any], program: str | None, interpreter: str, json_path: str
) -> dict[str, list[str]]:
    args: list[str] = []
    no_hyphens: list[str] = []
    no_equals: list[str] = []
    no_boolean_flags: list[str] = []
    append_hydra: list[str] = []
    override_hydra: list[str] = []
    for name, value in params.items():
        pair = f"{name}={value}"
        args.append(f"--{pair}")
        no_hyphens.append(pair)
        no_equals += [f"--{name}", str(value)]
        append_hydra.append(f"+{pair}")
        override_hydra.append(f"++{pair}")
        if value is True:
            no_boolean_flags.append(f"--{name}")
        elif value is not False:
            no_boolean_flags.append(f"--{pair}")
    values = {
        "args": args,
        "args_no_hyphens": no_hyphens,
        "args_no_equals": no_equals,
        "args_no_boolean_flags": no_boolean_flags,
        "args_append_hydra": append_hydra,
        "args_override_hydra": override_hydra,
        "args_json": [json.dumps(params)],
        # wandb extends the argv with a dict here, which yields the parameter names; odd,
        # but a config that relies on it should behave the same.
        "args_dict": list(params),
        "interpreter": [interpreter],
        "args_json_file": [json_path],
    }
    if program:
        values["program"] = [program]
    if sys.platform != "win32":
        values["env"] = ["/usr/bin/env"]
    return values


def build_command(
    command: Sequence[str] | None,
    program: str | None,
    params: Mapping[str, Any],
    *,
    sweep_dir: str | os.PathLike[str],
    run_id: str,
    interpreter: str = sys.executable,
    environ: Mapping[str, str] | None = None,
) -> ChildCommand:
    """Expand a sweep's command template for one run, exactly as ``wandb agent`` does.

    ``command`` is the config's ``command`` (``None`` or empty means :data:`DEFAULT_COMMAND`),
    ``program`` its ``program``, and ``params`` the run's config as delivered: a nested dict
    whose top-level keys are in the order wandb iterates them (sorted by name); arguments come
    out in that order. ``${envvar:NAME}`` is looked up in ``environ`` (default
    ``os.environ``); pass the child's environment so ``${envvar:WANDB_SWEEP_ID}`` works as in
    wandb. A macro is only replaced when it is a whole element; an unknown ``${name}`` element
    disappears. Raises :class:`~localsweep.errors.ConfigError` when the command uses
    ``${program}`` but there is no ``program``, or when nothing is left to run.

    >>> build_command(None, "train.py", {"lr": 0.1}, sweep_dir="w", run_id="r",
    ...               interpreter="python").argv
    ('/usr/bin/env', 'python', 'train.py', '--lr=0.1')
    """
    env_lookup: Mapping[str, str] = os.environ if environ is None else environ
    template = [str(element) for element in (command or DEFAULT_COMMAND)]
    template = [_expand_envvars(element, env_lookup) for element in template]

    if "${program}" in template and not program:
        raise ConfigError(
            [
                Violation(
                    "program",
                    "the command uses ${program} but the sweep config sets no `program`; "
                    "add `program: train.py` (your script) or drop ${program} from `command`",
                )
            ]
        )

    plain = {str(name): _plain(value) for name, value in params.items()}
    json_path = args_json_file_path(sweep_dir, run_id)
    macros = _macro_values(plain, program, interpreter, json_path)

    argv: list[str] = []
    for element in template:
        if element.startswith("${") and element.endswith("}"):
            argv += macros.get(element[2:-1], [])
        else:
            argv.append(element)

    if not argv:
        shown = list(command) if command else list(DEFAULT_COMMAND)
        raise ConfigError(
            [
                Violation(
                    "command",
                    f"{shown} expands to an empty command line, so there is "
                    "nothing to start; name the executable, e.g. [${env}, ${interpreter}, "
                    "${program}, ${args}]",
                )
            ]
        )

    files: dict[str, str] = {}
    if "${args_json_file}" in template:
        files[json_path] = macros["args_json"][0]
    logger.debug("run %s command: %s", run_id, argv)
    return ChildCommand(argv=tuple(argv), files=types.MappingProxyType(files))


def check_command(command: Sequence[str] | None, program: str | None) -> None:
    """Raise :func:`build_command`'s ``ConfigError`` when no run's command line could be
    built: the command uses ``${program}`` with no ``program``, or expands to nothing
    whatever the params (every sweep has at least one). Checked before an agent claims
    a run, which would otherwise be left ``running`` with nothing started."""
    build_command(command, program, {"param": 1}, sweep_dir=".", run_id="check")


def param_file_content(params: Mapping[str, Any]) -> str:
    """The YAML wandb's agent writes for ``WANDB_SWEEP_PARAM_PATH``.

    ``wandb_version: 1`` followed by ``name: {value: v}`` for each top-level parameter, in
    the order given; ``wandb.init()`` reads it with its own config loader and locks those
    keys in ``wandb.config``. Write it as UTF-8.
    """
    text = "wandb_version: 1"
    # wandb writes nothing after the version line for an empty config: an empty mapping
    # would be dumped as "{}", which its loader would then choke on.
    if params:
        body = {str(name): {"value": _plain(value)} for name, value in params.items()}
        text += "\n\n" + yaml.safe_dump(
            body, default_flow_style=False, allow_unicode=False, sort_keys=False
        )
    return text


def child_env(
    base: Mapping[str, str],
    *,
    sweep_id: str,
    run_id: str,
    project: str,
    wandb_dir: str | os.PathLike[str],
    param_path: str | os.PathLike[str],
    entity: str | None = None,
) -> dict[str, str]:
    """The environment a run's child process gets: ``base`` plus what ``wandb agent`` sets.

    That is ``WANDB_SWEEP_ID``, ``WANDB_RUN_ID``, ``WANDB_SWEEP_PARAM_PATH``,
    ``WANDB_PROJECT``, ``WANDB_DIR`` (and ``WANDB_ENTITY`` when given), without
    ``WANDB_SERVICE`` so the child starts its own wandb service, plus ``WANDB_MODE=offline``,
    which is localsweep's: there is no server to talk to.
    """
    env = dict(base)
    env.pop("WANDB_SERVICE", None)
    env.update(
        {
            "WANDB_SWEEP_ID": sweep_id,
            "WANDB_RUN_ID": run_id,
            "WANDB_SWEEP_PARAM_PATH": os.fspath(param_path),
            # wandb.env.set_project turns an empty name into "uncategorized".
            "WANDB_PROJECT": project or "uncategorized",
            "WANDB_DIR": os.fspath(wandb_dir),
            "WANDB_MODE": "offline",
        }
    )
    if entity:
        env["WANDB_ENTITY"] = entity
    return env

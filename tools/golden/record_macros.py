"""Record how wandb 0.31's own agent turns a sweep run into a child command line.

Run with the main interpreter (the one that has wandb 0.31 installed)::

    python3 tools/golden/record_macros.py

It writes ``tests/golden/macros.json``, which ``tests/agent/test_command.py`` checks
``localsweep.agent._command`` against.

What is called, and why
-----------------------
Nothing here re-implements wandb. For every case the script drives the real method
``wandb.wandb_agent.Agent._command_run`` on a real ``Agent`` object, which in turn calls
``create_sweep_command`` and ``create_sweep_command_args`` from
``wandb/sdk/launch/sweeps/utils.py``, expands the macros, writes the YAML parameter file and,
when the command uses ``${args_json_file}``, the JSON file, and finally hands the argument
list and the environment to ``AgentProcess``.

Two things are replaced, because they need a W&B server or would start processes:

* ``wandb.wandb_agent.AgentProcess`` is swapped for a recorder that keeps the ``command``
  list and the ``env`` it is given instead of starting a process. That is the exact argv
  and environment ``wandb agent`` would pass to ``subprocess.Popen``. (The real class also
  drops ``WANDB_SERVICE`` from that environment; the recorder records it as given.)
* ``run_agent`` (which talks to the server) is not called; the script sets the environment
  variables it would set, ``WANDB_SWEEP_ID`` and ``WANDB_PROJECT`` through
  ``wandb.env.set_project``, and sets ``agent._sweep_command`` to the command list as
  ``Agent.run`` would after reading the sweep config (``[]`` when the config has none).

The files ``_command_run`` wrote (``config-<run>.yaml`` and ``config-<run>.json``) are read
back and stored verbatim. Absolute paths under the temporary ``WANDB_DIR`` are stored with
that directory replaced by ``<WANDB_DIR>`` so the data does not depend on the machine.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import wandb
import wandb.wandb_agent as wandb_agent

OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "macros.json"
PLACEHOLDER = "<WANDB_DIR>"
SWEEP_ID = "golden01"
PROJECT = "golden-project"
SET_VAR = "LS_GOLDEN_SET"
SET_VALUE = "set value with spaces"
UNSET_VAR = "LS_GOLDEN_UNSET"
MACRO_VAR = "LS_GOLDEN_MACRO"

# Each set is a run config as the agent receives it: top-level names sorted, as wandb's
# server hands them over. Values cover every JSON type and the str() corner cases.
PARAM_SETS: list[tuple[str, dict[str, Any]]] = [
    ("empty", {}),
    ("one_float", {"lr": 0.01}),
    ("tiny_float", {"lr": 1e-05}),
    ("inexact_float", {"x": 0.1 + 0.2}),
    ("float_forms", {"a": 3.0, "b": 1e16, "c": 1e-07, "d": 0.00025, "e": 1.5e300, "f": -0.0}),
    ("ints", {"big": 12345678901234567890, "neg": -3, "zero": 0}),
    ("bool_true", {"flag": True}),
    ("bool_false", {"flag": False}),
    ("bools_mixed", {"flag": True, "lr": 0.1, "off": False}),
    ("none", {"nothing": None}),
    ("string_spaces", {"name": "hello world"}),
    ("string_double_quotes", {"q": 'say "hi"'}),
    ("string_single_quote", {"q": "it's"}),
    ("string_equals", {"eq": "a=b", "eq2": "=x="}),
    ("string_unicode", {"uni": "héllo ✓ 日本"}),
    ("string_empty", {"empty": ""}),
    ("string_like_flags", {"dash": "--weird", "dollar": "$HOME", "macro": "${args}"}),
    ("string_like_yaml", {"bool_str": "true", "null_str": "null", "num_str": "1e5"}),
    ("string_control", {"backslash": "C:\\path\\x", "newline": "a\nb", "tab": "a\tb"}),
    ("list_ints", {"lst": [1, 2, 3]}),
    ("list_strings", {"lst": ["a", "b c", "it's"]}),
    ("list_nested", {"nested_list": [[1, 2], [3], []]}),
    ("list_mixed", {"mixed": [1, "a", None, True, 1.5]}),
    ("list_empty", {"lst": []}),
    ("dict_value", {"d": {"a": 1, "b": "x"}}),
    ("nested_params", {"epochs": 3, "opt": {"lr": 0.1, "name": "adam"}}),
    ("nested_deep", {"model": {"enc": {"dropout": 0.001, "layers": [64, 32]}, "kind": "mlp"}}),
    ("dict_empty", {"d": {}}),
    ("odd_names", {"dash-name": 2, "dotted.name": 1, "with space": 3}),
    (
        "typical",
        {"batch_size": 32, "dropout": 0.5, "epochs": 10, "lr": 0.001, "optimizer": "adam"},
    ),
    (
        "everything",
        {
            "a_int": 1,
            "b_float": 2.5e-06,
            "c_true": True,
            "d_false": False,
            "e_none": None,
            "f_str": "x y",
            "g_list": [1, [2, "z"]],
            "h_dict": {"k": [True, None]},
        },
    ),
]

MACROS = [
    "env",
    "interpreter",
    "program",
    "args",
    "args_no_hyphens",
    "args_json",
    "args_json_file",
    "args_no_boolean_flags",
    "args_no_equals",
    "args_append_hydra",
    "args_override_hydra",
    "args_dict",
]

# Run against every parameter set.
FULL_TEMPLATES: list[tuple[str, list[Any] | None]] = [
    ("default", None),
    *[(f"only_{m}", ["${" + m + "}"]) for m in MACROS],
]

# Run against a few parameter sets: they test the template, not the values.
MIXED_TEMPLATES: list[tuple[str, list[Any] | None]] = [
    ("empty_list", []),
    (
        "literal_and_macros",
        ["${env}", "${interpreter}", "${program}", "--fixed", "1", "${args_no_hyphens}"],
    ),
    ("python3_json", ["python3", "-u", "${program}", "${args_json}"]),
    ("json_file_flag", ["${env}", "python", "${program}", "--config", "${args_json_file}"]),
    ("macro_inside_string", ["bash", "-c", "echo ${args}", "x${program}", "${program}.bak"]),
    ("unknown_macro", ["${unknown_macro}", "${program}", "${ARGS}", "${args }"]),
    ("macro_lookalikes", ["${}", "$args", "{args}", "${a} ${b}", "$${args}}", "${args}}"]),
    (
        "hydra_mix",
        ["${interpreter}", "${program}", "${args_append_hydra}", "${args_override_hydra}"],
    ),
    ("all_arg_forms", ["${args}", "--", "${args_no_equals}", "--", "${args_no_boolean_flags}"]),
    (
        "envvar",
        [
            "${envvar:" + SET_VAR + "}",
            "--x=${envvar:" + SET_VAR + "}",
            "${envvar:" + UNSET_VAR + "}",
            "a${envvar:" + SET_VAR + "}b${envvar:" + UNSET_VAR + "}c",
            "${program}",
        ],
    ),
    ("envvar_lowercase", ["${envvar:lowercase}", "x${envvar:lowercase}", "${envvar:Mixed}"]),
    ("envvar_empty_name", ["${envvar:}", "a${envvar:}b"]),
    ("envvar_expands_to_macro", ["${program}", "${envvar:" + MACRO_VAR + "}"]),
    ("envvar_sweep_id", ["${program}", "--sweep=${envvar:WANDB_SWEEP_ID}"]),
    ("non_string_elements", ["${program}", 5, True, 1.5, None]),
    ("no_program_macro", ["echo", "${args}"]),
]
MIXED_PARAM_SETS = ["bools_mixed", "string_spaces", "nested_params", "empty"]
PROGRAMS = {"default": "train.py", "program_with_space": "scripts/my train.py"}


class _Recorder:
    """Stands in for AgentProcess: keeps what would have been passed to Popen."""

    last: _Recorder | None = None

    def __init__(
        self, command: list[str] | None = None, env: dict[str, str] | None = None, **_: Any
    ) -> None:
        self.command = command
        self.env = env
        _Recorder.last = self


def _scrub(value: Any, wandb_dir: str) -> Any:
    if isinstance(value, str):
        return value.replace(wandb_dir, PLACEHOLDER)
    if isinstance(value, list):
        return [_scrub(v, wandb_dir) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, wandb_dir) for k, v in value.items()}
    return value


def _clean_environment() -> None:
    for key in list(os.environ):
        if key.startswith(("WANDB_", "LS_GOLDEN_")):
            del os.environ[key]


def _record_case(
    agent: wandb_agent.Agent,
    wandb_dir: str,
    case_id: str,
    template: list[Any] | None,
    params: dict[str, Any],
    program: str,
) -> dict[str, Any]:
    run_id = f"run-{case_id}"
    # _command_run edits the list in place (envvar substitution), so hand it a copy.
    agent._sweep_command = list(template) if template is not None else []
    args = {name: {"value": value} for name, value in params.items()}
    _Recorder.last = None
    agent._command_run({"run_id": run_id, "program": program, "args": args})
    rec = _Recorder.last
    assert rec is not None and rec.command is not None and rec.env is not None
    sweep_dir = os.path.join(wandb_dir, "wandb", f"sweep-{SWEEP_ID}")
    json_path = os.path.join(sweep_dir, f"config-{run_id}.json")
    json_content = None
    if os.path.exists(json_path):
        json_content = Path(json_path).read_text()
        os.remove(json_path)
    yaml_path = os.path.join(sweep_dir, f"config-{run_id}.yaml")
    yaml_content = Path(yaml_path).read_text()
    os.remove(yaml_path)
    wandb_env = {k: v for k, v in sorted(rec.env.items()) if k.startswith("WANDB_")}
    return {
        "id": case_id,
        "command": template,
        "program": program,
        "run_id": run_id,
        "argv": _scrub(rec.command, wandb_dir),
        "json_file": _scrub(json_path, wandb_dir) if json_content is not None else None,
        "json_content": json_content,
        "yaml_content": yaml_content,
        "wandb_env": _scrub(wandb_env, wandb_dir),
    }


def _default_wandb_dir() -> str:
    """Where wandb's agent puts WANDB_DIR when the user has not set it."""
    _clean_environment()
    with tempfile.TemporaryDirectory() as tmp:
        old = os.getcwd()
        os.chdir(tmp)
        try:
            wandb_agent.Agent(api=None, queue=None)
            chosen = os.environ["WANDB_DIR"]
            return "cwd" if os.path.realpath(chosen) == os.path.realpath(tmp) else chosen
        finally:
            os.chdir(old)


def main() -> None:
    default_dir = _default_wandb_dir()
    _clean_environment()
    wandb_agent.AgentProcess = _Recorder  # type: ignore[misc,assignment]
    with tempfile.TemporaryDirectory() as wandb_dir:
        os.environ["WANDB_DIR"] = wandb_dir
        os.environ["WANDB_SWEEP_ID"] = SWEEP_ID
        wandb.env.set_project(PROJECT)
        os.environ[SET_VAR] = SET_VALUE
        os.environ[MACRO_VAR] = "${args}"
        environ = {SET_VAR: SET_VALUE, MACRO_VAR: "${args}", "WANDB_SWEEP_ID": SWEEP_ID}
        agent = wandb_agent.Agent(api=None, queue=None)

        params_by_name = dict(PARAM_SETS)
        cases = []
        for set_name, params in PARAM_SETS:
            for tname, template in FULL_TEMPLATES:
                case = _record_case(
                    agent, wandb_dir, f"{set_name}.{tname}", template, params, PROGRAMS["default"]
                )
                cases.append({"param_set": set_name, **case})
        for set_name in MIXED_PARAM_SETS:
            for tname, template in MIXED_TEMPLATES:
                for pname, program in PROGRAMS.items():
                    case_id = f"{set_name}.{tname}.{pname}"
                    case = _record_case(
                        agent, wandb_dir, case_id, template, params_by_name[set_name], program
                    )
                    cases.append({"param_set": set_name, **case})

    # The YAML file depends on the parameters only; store it once per set, after checking so.
    yaml_by_set: dict[str, str] = {}
    for case in cases:
        text = case.pop("yaml_content")
        assert yaml_by_set.setdefault(case["param_set"], text) == text, case["id"]

    data = {
        "about": (
            "Recorded by tools/golden/record_macros.py from wandb's own Agent._command_run; "
            "see that script's docstring for what was called. Do not edit by hand."
        ),
        "wandb_version": wandb.__version__,
        "python_version": sys.version.split()[0],
        "wandb_dir_placeholder": PLACEHOLDER,
        "wandb_dir_when_unset": default_dir,
        "sweep_id": SWEEP_ID,
        "project": PROJECT,
        "environ": environ,
        "param_sets": {
            name: {"params": params, "yaml_content": yaml_by_set[name]}
            for name, params in PARAM_SETS
        },
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()

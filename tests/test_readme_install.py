"""The README's promise: after its install command, in a fresh virtual environment, every
command it shows works.

A real ``python -m venv`` and a real ``pip install -e .`` of a copy of this checkout (pip
reaches PyPI through its normal client), then the README's commands, read from the README
itself. The one command not run is the test suite's (``python -m pytest -n 2``), which
this test is part of.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_ID = "ls-k3j9x2ab"


def _console_commands() -> list[str]:
    """Every command in the README's console blocks (a ``$ `` prompt, or a bare line)."""
    commands = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append(line[2:].split("  #")[0].strip())
            elif line.strip() and not line.startswith(("ls-", " ")):
                commands.append(line.strip())
    return commands


def _copy_checkout(to: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)
    return to


@pytest.mark.timeout(3600)
def test_every_readme_command_works_after_the_readme_install(tmp_path: Path) -> None:
    commands = _console_commands()
    install = next(c for c in commands if c.startswith("pip install -e . "))
    checkout = _copy_checkout(tmp_path / "checkout")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    bin_dir = tmp_path / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LOCALSWEEP_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(bin_dir.parent))
    env["COLUMNS"] = "200"

    def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{command!r} failed:\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    # The quick start, as written: the install, then the example.
    quick = sh(install, checkout)
    assert "best run" in quick.stdout

    # The headline commands, in the example's folder (its sweep.yaml and train.py).
    example = checkout / "examples" / "quickstart"
    headline = [c for c in commands if c.startswith("localsweep ")]
    assert [c.split()[1] for c in headline] == ["sweep", "agent", "show", "report", "sync"]
    sweep_id = ""
    for command in headline:
        if command.startswith("localsweep sweep"):
            sweep_id = sh(command, example).stdout.strip()
            assert sweep_id.startswith("ls-")
            continue
        if command.startswith("localsweep sync"):
            # No W&B server can run here: the plan, which checks every run and touches no
            # network, stands in for the upload (tests/sync/ upload to a stand-in server).
            command = command.split("  #")[0] + " --dry-run"
        sh(command.replace(EXAMPLE_ID, sweep_id), example)
    assert (example / f"report-{sweep_id}.html").is_file()

    # The README's Python snippet, with the example's train function.
    snippet = re.search(r"```python\n(.*?)```", README, flags=re.S)
    assert snippet is not None
    code = "from train import train\n" + snippet.group(1)
    out = sh(f"python - <<'EOF'\n{code}\nEOF", example).stdout
    assert "lr" in out

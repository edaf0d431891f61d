"""The module-scoped run files leave the test process's environment alone: their wandb
children get their settings in their own environment. Set in this process, a fixture's
values outlived it whenever pytest tore the fixtures down out of order, and a later module
saw a 0.2 s flush interval it had not asked for (tests/agent/test_subprocess.py's default
of 1 s, say)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_run_file_fixtures_set_nothing_in_the_test_process(
    offline_run_file: Path, offline_run_file_over_1mb: Path
) -> None:
    assert offline_run_file.is_file() and offline_run_file_over_1mb.is_file()
    assert "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL" not in os.environ
    assert "WANDB_SWEEP_ID" not in os.environ

"""A Ctrl-C at any moment ends the command cleanly (see localsweep._interrupt): never a
traceback from inside an import, never a module left half imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Sends SIGINT to this process while the import system looks for NAME, so that it lands
# in the middle of importing whatever imports NAME, as a user's Ctrl-C at that moment does.
SIGINT_DURING_IMPORT = """
import os, signal, sys

class SigintWhenImporting:
    def __init__(self, name):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs here, inside the import
                pass
        return None
"""


def _run(script: str) -> subprocess.CompletedProcess[str]:
    code = SIGINT_DURING_IMPORT + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_ctrl_c_while_the_command_imports_is_one_word_and_exit_130() -> None:
    done = _run(
        """
        sys.meta_path.insert(0, SigintWhenImporting("localsweep._show_cli"))
        sys.argv = ["localsweep", "--help"]
        from localsweep._main import main
        main()
        """
    )
    assert (done.returncode, done.stderr) == (130, "Interrupted.\n")


@pytest.mark.slow
def test_a_ctrl_c_held_through_an_import_of_wandb_leaves_wandb_whole() -> None:
    """The agent imports wandb while it waits on a run's process (to read its file): a
    Ctrl-C in the middle used to leave wandb half imported, the agent's next read failed
    with "partially initialized module 'wandb'", and the agent ended in a traceback with
    the run it was stopping unrecorded."""
    done = _run(
        """
        from localsweep import _interrupt
        _interrupt.install()
        sys.meta_path.insert(0, SigintWhenImporting("wandb.sdk.lib.retry"))
        try:
            with _interrupt.deferred():
                import wandb
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted after the import")
        print("pending:", _interrupt.pending())
        from wandb.proto import wandb_internal_pb2
        import wandb.sdk.lib.retry
        print("wandb whole:", wandb.errors.Error.__name__, wandb_internal_pb2.Record.__name__)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "interrupted after the import",
        "pending: True",
        "wandb whole: Error Record",
    ]

"""``localsweep.sync``: upload a local sweep to W&B as one sweep with all its runs.

``wandb sync`` alone cannot: it sends each run's recorded (local) sweep id, which the
server does not know, so the run is refused (and ``wandb sync`` still exits 0). This
module creates the sweep on the server first, stages copies of the run folders whose
run files carry the server's sweep id, and hands them to the real ``wandb sync``:

1. check every run's folder and run file (:mod:`._plan`);
2. create the server's sweep as ``wandb sweep`` does, or reuse the one an earlier sync
   created, saving the mapping in the store before anything is uploaded;
3. stage and check copies (:mod:`._stage`), never changing the originals;
4. run ``wandb sync`` on them; a run is synced when its ``.synced`` marker exists.
   Only failures are retried, a bounded number of times; each outcome is stored;
5. mark the server's sweep finished when the local one is.

If the server refuses every run inside the sweep, the runs are uploaded without a sweep
id and attached as the sweep's prior runs instead (``prior_runs``), and the report says
so. Interrupted anywhere, a rerun reuses the sweep and uploads only what is left.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from localsweep._sync._lock import SyncLock
from localsweep._sync._stage import default_staging_root
from localsweep.wandb_bridge._server import ServerSession

if TYPE_CHECKING:
    from localsweep._sync._report import SyncReport

__all__ = ["sync"]


def sync(
    sweep_id: str,
    *,
    entity: str | None = None,
    project: str | None = None,
    db: str | os.PathLike[str] | None = None,
    wandb_dirs: Sequence[str | os.PathLike[str]] = (),
    dry_run: bool = False,
    include_running: bool = False,
    keep_running: bool = False,
    prior_runs: bool = False,
    retries: int = 2,
    parallel: int = 5,
    staging_dir: str | os.PathLike[str] | None = None,
    timeout: float = 20.0,
    upload_timeout: float = 3600.0,
    progress: Callable[[str], None] | None = None,
) -> SyncReport:
    """Upload local sweep ``sweep_id`` to W&B as one sweep with all its runs.

    ``entity``/``project`` default to the sweep's, then the runs' project and the API
    key's default entity. ``wandb_dirs`` are extra folders holding run folders (each
    machine's ``wandb/`` folder). ``dry_run`` checks and reports without any network
    or database write. ``prior_runs`` takes the fallback path from the start. The
    sweep's own prior runs (``localsweep.sweep(..., prior_runs=...)``) are uploaded
    without a sweep id and attached to the server's sweep as prior runs, or reported as
    left with the reason (see docs/sync.md).
    ``timeout`` bounds each answer of the server; ``upload_timeout`` each ``wandb sync``
    (which retries an unresponsive server for long), after which its unfinished runs
    count as failed. Raises
    :class:`~localsweep.wandb_bridge._server.ServerError` when the server cannot be
    used (no API key, unreachable, wrong entity or project), ``FileNotFoundError`` for
    a ``wandb_dirs`` folder that does not exist, and
    :class:`~localsweep._sync._lock.SyncRunningError` when another sync of the sweep
    (with the same staging folder) is running.

    >>> report = localsweep.sync("ls-k3j9x2ab", entity="team", project="p")  # doctest: +SKIP
    >>> report.url                                                            # doctest: +SKIP
    """
    # wandb takes a second to start and log in: its child starts first of all, before
    # this process imports and opens the store and checks the runs. The same child later
    # runs wandb sync, so wandb starts and logs in once.
    clock = Clock()
    for folder in wandb_dirs:
        if not Path(folder).expanduser().is_dir():
            # A typo or a copy not made: refused before anything starts, as by the CLI.
            raise FileNotFoundError(f"wandb_dirs: {os.fspath(folder)!r} is not a folder")
    root = Path(staging_dir) if staging_dir else default_staging_root(sweep_id)
    server: ServerSession | None = None
    made_root = False
    lock = SyncLock(root, sweep_id)
    if not dry_run:
        made_root = not root.exists()
        # Held for the whole sync: a second sync of the sweep stops here, before it
        # creates, stages or sends anything.
        lock.acquire()
        server = ServerSession(
            timeout=timeout, workdir=root, start_core=True, ask_entity=entity is None
        ).start()
    try:
        from localsweep._sync._steps import sync_steps
        from localsweep.errors import NotFoundError

        try:
            return sync_steps(
                sweep_id,
                server=server,
                state_root=root,
                clock=clock,
                entity=entity,
                project=project,
                db=db,
                wandb_dirs=wandb_dirs,
                include_running=include_running,
                keep_running=keep_running,
                prior_runs=prior_runs,
                retries=retries,
                parallel=parallel,
                upload_timeout=upload_timeout,
                say=progress or (lambda _text: None),
            )
        except NotFoundError:
            # No such sweep: nothing was staged, and the login is not needed.
            if server is not None:
                server.kill()
                server = None
            if made_root:
                shutil.rmtree(root, ignore_errors=True)
            raise
    finally:
        if server is not None:
            server.close()
        lock.release()


class Clock:
    """Seconds spent in each step of a sync (a step run twice adds up)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.laps[step] = self.laps.get(step, 0.0) + now - self._last
        self._last = now

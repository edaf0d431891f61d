"""A process whose clock is off, as on a machine whose clock disagrees with the database
server's: libfaketime (Debian's ``faketime`` package) preloaded with a fixed offset.

Put this folder on ``sys.path`` and pass :func:`skewed_env` to a process's environment
(``cli_at(..., env=skewed_env("+300s"))``). Run as a script (under that environment), it
is an agent or a viewer on such a machine::

    python skewed_clock.py claim DB_URL SWEEP_ID [STATE]  # claim a run, end it as STATE
    python skewed_clock.py ui DB_URL SWEEP_ID RUN_ID...   # the ui's pages, as JSON

``claim`` claims the sweep's next run through the real search, as an agent does (reaping
the runs of dead agents first), prints its id, and exits: its agent is then gone. ``ui``
reads the pages through Starlette's test client in this process, so that the ui judges
by the skewed clock.
"""

from __future__ import annotations

import glob
import json
import sys
from typing import Any

__all__ = ["faketime_library", "skewed_env"]


def faketime_library() -> str | None:
    """The path of libfaketime, or ``None`` when it is not installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    found += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def skewed_env(offset: str) -> dict[str, str]:
    """Environment variables that set a process's clock ``offset`` from this machine's
    (``"+300s"``, ``"-1h"``): every clock it reads, wall and monotonic, moves together.
    Skips the calling test when libfaketime is not installed."""
    library = faketime_library()
    if library is None:
        import pytest

        pytest.skip("libfaketime is not installed: apt-get install faketime")
    # DONT_FAKE_MONOTONIC: monotonic time still runs forward; only the wall clock is off.
    return {"LD_PRELOAD": library, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def _ui_pages(url: str, sweep_id: str, run_ids: list[str]) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from starlette.testclient import TestClient

    from localsweep.store import Store
    from localsweep.ui import UiSettings, create_app

    client = TestClient(create_app(Store(url), UiSettings()), base_url="http://127.0.0.1:8080")

    def text(path: str) -> str:
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return page.text

    return {
        "index": text("/"),
        "sweep": text(f"/sweeps/{sweep_id}"),
        "update": client.get(f"/api/sweeps/{sweep_id}/update").json(),
        "runs": {run_id: text(f"/runs/{run_id}") for run_id in run_ids},
    }


def _claim(url: str, sweep_id: str, state: str | None) -> str:
    import random

    from localsweep.records import RunState
    from localsweep.search import make_search
    from localsweep.store import AgentInfo, Store

    store = Store(url)
    config = store.get_sweep(sweep_id).config
    search = make_search(config)
    claim = store.claim_run(
        sweep_id,
        AgentInfo.current(),
        lambda runs, number: search.propose(runs, random.Random(number)),
        nest=config.nest,
    )
    assert claim.run is not None, claim
    if state is not None:
        store.finish_run(claim.run, RunState(state), summary={"loss": 1.0}, metric=1.0)
    store.close()
    return claim.run.id


if __name__ == "__main__":
    command, url, sweep_id, *rest = sys.argv[1:]
    if command == "claim":
        print(_claim(url, sweep_id, rest[0] if rest else None))
    else:
        print(json.dumps(_ui_pages(url, sweep_id, rest)))

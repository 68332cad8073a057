"""status.snapshot: counts, totals and worker liveness from the run directory alone."""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import (
    RunState,
    make_token,
)
from ansible_collections.datamover.fleet.plugins.module_utils.status import snapshot


def test_snapshot(tmp_path):
    rd = RunDir(str(tmp_path / "shared"), "st")
    rd.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    state = RunState(rd)
    for i in (1, 2, 3):
        state.add_todo(i)
    snap = snapshot(rd)
    assert snap["plan_complete"] is False and snap["complete"] is False
    assert snap["parts"] == {"todo": 3, "claimed": 0, "done": 0, "failed": 0, "total": 3}

    rd.write_plan({"parts": 3, "files": 30, "bytes": 300})
    state.finish(state.claim(1, make_token("w1")))
    state.fail(state.claim(2, make_token("w1")))
    atomic_write_json(rd.p("workers", "w1.json"), {"host": "w1", "status": "running",
                                                   "files": 10, "bytes": 100})
    atomic_write_json(rd.p("workers", "w2.json"), {"host": "w2", "status": "running",
                                                   "files": 5, "bytes": 7})
    old = time.time() - 1000
    os.utime(rd.p("workers", "w2.json"), (old, old))
    snap = snapshot(rd, lease_seconds=60)
    assert snap["files_total"] == 30 and snap["bytes_total"] == 300
    assert snap["files_done"] == 15 and snap["bytes_done"] == 107
    assert [w["alive"] for w in snap["workers"]] == [True, False]
    assert snap["workers_alive"] == 1
    assert snap["complete"] is False

    lease = state.claim(3, make_token("w1"))
    assert snapshot(rd)["complete"] is False  # claimed is not settled
    state.finish(lease)
    open(rd.p("STOP"), "w").close()
    snap = snapshot(rd)
    assert snap["complete"] is True
    assert snap["stop_requested"] is True
    assert snap["parts"]["total"] == 3

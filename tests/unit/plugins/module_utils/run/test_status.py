"""status.snapshot: counts, totals and worker liveness from the run directory alone."""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
    RunState,
    make_token,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import read_status, snapshot


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


def _tree_files(root):
    return sorted(os.path.join(d, n) for d, _dirs, names in os.walk(root) for n in names)


def test_a_thousand_polls_leave_the_run_directory_as_they_found_it(tmp_path):
    """Each poll is its own process (run_status is a module run): 1,000 of them may leave at
    most one clock file behind, not one each."""
    rd = RunDir(str(tmp_path / "shared"), "polls")
    rd.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    RunState(rd).add_todo(1)
    rd.write_plan({"parts": 1, "files": 1, "bytes": 1})
    read_status(rd)
    before = _tree_files(rd.path)
    for _ in range(1000):
        pid = os.fork()
        if pid == 0:  # the child: one poll, as a module run would do it
            code = 0
            try:
                read_status(RunDir(rd.shared_dir, rd.run_id))
            except BaseException:
                code = 1
            os._exit(code)
        assert os.waitpid(pid, 0)[1] == 0
    assert _tree_files(rd.path) == before

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cheap snapshot of a run's progress, read from the run directory.

Cost is O(states + workers): the state directories are listed and each worker's record read;
partition results are not opened, so polling a run of 100k partitions stays cheap.
"""
from __future__ import annotations

import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import fs_now
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import RunState


def read_status(rundir, lease_seconds=120.0):
    """The snapshot of a run, or of its absence while run.json is not written yet."""
    if not rundir.exists():
        return absent(rundir)
    rundir.load()
    return snapshot(rundir, lease_seconds)


def absent(rundir):
    """The snapshot of a run whose run.json is not there (yet): the watch waits for it."""
    return {"exists": False, "run_id": rundir.run_id, "run_dir": rundir.path,
            "time": time.time()}


def snapshot(rundir, lease_seconds=120.0):
    state = RunState(rundir)
    counts = state.counts()
    plan = rundir.plan()
    now = fs_now(rundir.clock_path())
    workers = []
    for rec, mtime in rundir.workers():
        age = now - mtime
        rec["age"] = round(age, 1)
        rec["alive"] = rec.get("status") == "running" and age <= 2 * lease_seconds
        workers.append(rec)
    plan_failed = rundir.plan_failed()
    total = plan["parts"] if plan else sum(counts.values())
    settled = counts["done"] + counts["failed"]
    return {
        "exists": True,
        "run_id": rundir.run_id,
        "run_dir": rundir.path,
        "time": time.time(),
        "plan_complete": plan is not None,
        "plan_failed": plan_failed,
        "plan": plan,
        "parts": dict(counts, total=total),
        "files_total": plan["files"] if plan else None,
        "bytes_total": plan["bytes"] if plan else None,
        "files_done": sum(w.get("files", 0) for w in workers),
        "bytes_done": sum(w.get("bytes", 0) for w in workers),
        "workers": workers,
        "workers_alive": sum(1 for w in workers if w["alive"]),
        "complete": plan is not None and settled == total and counts["claimed"] == 0,
        "stop_requested": rundir.stop_requested(),
    }

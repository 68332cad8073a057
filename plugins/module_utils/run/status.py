# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cheap snapshot of a run's progress, read from the run directory.

Cost is O(states + workers): the state directories are listed and each worker's record read;
partition results are not opened, so polling a run of 100k partitions stays cheap.
"""
from __future__ import annotations

import time

from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import LEASE_SECONDS
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    fs_now,
    human_bytes,
    human_seconds,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState


def read_status(rundir, lease_seconds=LEASE_SECONDS):
    """The snapshot of a run, or of its absence while run.json is not written yet."""
    if not rundir.exists():
        return absent(rundir)
    meta = rundir.load()
    return dict(snapshot(rundir, lease_seconds), tool=meta.get("tool"), run=meta)


def absent(rundir):
    """The snapshot of a run whose run.json is not there (yet): the watch waits for it."""
    return {"exists": False, "run_id": rundir.run_id, "run_dir": rundir.path,
            "time": time.time()}


def snapshot(rundir, lease_seconds=LEASE_SECONDS):
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
    files_done, bytes_done, inflight = _done(workers, rundir.progress())
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
        "files_done": files_done,
        "bytes_done": bytes_done,
        "inflight": inflight,
        "workers": workers,
        "workers_alive": sum(1 for w in workers if w["alive"]),
        "complete": plan is not None and settled == total and counts["claimed"] == 0,
        # Every worker has written its last record: files and bytes are final, not catching up.
        "final": not any(w["alive"] for w in workers),
        "stop_requested": rundir.stop_requested(),
        # a plan-only pass surveys partitions: its progress line must not read as a transfer
        "kind": rundir.kind(),
    }


def _done(workers, progress):
    """(files, bytes, partitions in flight): what every worker has settled, plus what the
    live ones have moved of the partitions they hold (their progress records). A worker's
    in-flight share counts only while it is alive: a lost host's partitions are redone."""
    files = nbytes = 0
    inflight = []
    seen = set()
    for w in workers:
        host = w.get("host")
        prog = progress.get(host) or {}
        seen.add(host)
        files += max(w.get("files", 0), prog.get("files", 0))
        nbytes += max(w.get("bytes", 0), prog.get("bytes", 0))
        if w.get("alive"):
            files += prog.get("inflight_files", 0)
            nbytes += prog.get("inflight_bytes", 0)
            inflight += [dict(i, host=host) for i in prog.get("inflight", [])]
    for host, prog in progress.items():
        if host not in seen:  # its worker record is not written yet
            files += prog.get("files", 0)
            nbytes += prog.get("bytes", 0)
    return files, nbytes, inflight


class Rate:
    """Throughput over the last ``window`` seconds of snapshots (not since the start), and
    the ETA it gives. Fed by the watch with each snapshot's time and bytes."""

    def __init__(self, window=30.0):
        self.window = float(window)
        self.samples = []

    def add(self, when, nbytes):
        self.samples.append((when, nbytes))
        # keep one sample at or before the window's start, so the window is always full
        while len(self.samples) > 2 and self.samples[1][0] <= when - self.window:
            self.samples.pop(0)

    def rate(self):
        if len(self.samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return max(0.0, (b1 - b0) / (t1 - t0)) if t1 > t0 else 0.0

    def eta(self, remaining):
        rate = self.rate()
        return remaining / rate if rate > 0 and remaining is not None else None


def percent(done, total, finished):
    """Whole percent, floored, and never 100 before every partition is settled."""
    if not total:
        return None
    value = int(100 * min(done, total) // total)
    return value if finished else min(value, 99)


def progress_line(st, rate, elapsed, eta=None):
    """One line for people: parts, files, bytes, the recent rate, ETA, live workers."""
    parts = st["parts"]
    if st["plan_complete"]:
        head = "%d/%d parts" % (parts["done"] + parts["failed"], parts["total"])
    else:
        head = "crawling, %d parts so far" % parts["total"]
    kind = st.get("kind")
    line = "[datamover %s%s] %s" % (st["run_id"], ", plan only: surveyed, nothing moves"
                                    if kind == "plan-only" else ", audit" if kind == "audit"
                                    else "", head)
    notes = (["%d failed" % parts["failed"]] if parts["failed"] else []) + \
        (["%d running" % parts["claimed"]] if parts.get("claimed") else [])
    if notes:
        line += " (%s)" % ", ".join(notes)
    finished = bool(st.get("complete"))
    line += " | %d%s files" % (st["files_done"], "/%d" % st["files_total"] if st["files_total"] else "")
    line += " | %s%s" % (human_bytes(st["bytes_done"]), "/" + human_bytes(st["bytes_total"]) if st["bytes_total"] else "")
    pct = percent(st["bytes_done"], st["bytes_total"], finished) if st["plan_complete"] else None
    if pct is not None:
        line += " (%d%%)" % pct
    line += " | %s/s" % human_bytes(rate)
    if eta is None and st["bytes_total"] and rate > 0:
        eta = max(0, st["bytes_total"] - st["bytes_done"]) / rate
    if eta is not None and st["bytes_total"]:
        line += " | ETA %s" % human_seconds(eta)
    line += " | %d workers | %s elapsed" % (st["workers_alive"], human_seconds(elapsed))
    return line

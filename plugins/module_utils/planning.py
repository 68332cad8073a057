# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan step: create (or resume) a run and cut its source into partitions."""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import atomic_write_json
from ansible_collections.datamover.fleet.plugins.module_utils.partitioner import (
    PlanError,
    plan_native,
)
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import RunState

__all__ = ["PlanError", "make_plan", "run_meta"]

META_KEYS = ("source", "destination", "tool", "tool_options", "rclone_config", "verify",
             "symlinks", "excludes")


def run_meta(params):
    meta = {k: params.get(k) for k in META_KEYS}
    meta["source"] = os.path.normpath(meta["source"])
    if meta["tool"] == "rsync":
        meta["destination"] = os.path.normpath(meta["destination"])
    meta["partitioning"] = {"engine": params.get("engine", "native"),
                            "files": params.get("partition_files"),
                            "bytes": params.get("partition_bytes")}
    return meta


def make_plan(rundir, params):
    meta, created = rundir.create_or_check(run_meta(params))
    state = RunState(rundir)
    requeued = [] if created else state.requeue_failed()
    if rundir.stop_requested():
        os.unlink(rundir.p("STOP"))  # a resumed run is a request to go on
    if os.path.exists(rundir.p("plan.failed")):
        os.unlink(rundir.p("plan.failed"))
    if rundir.plan_complete():
        return {"run_dir": rundir.path, "created": created, "plan": rundir.plan(),
                "requeued_failed": requeued, "published": 0}
    part = meta["partitioning"]
    try:
        if part["engine"] == "fpart":
            from ansible_collections.datamover.fleet.plugins.module_utils.fpart import plan_fpart
            plan = plan_fpart(rundir, meta["source"], part["files"], part["bytes"],
                              meta.get("excludes") or [])
        else:
            plan = plan_native(rundir, meta["source"], part["files"], part["bytes"],
                               meta.get("excludes") or [], threads=params.get("threads") or 8)
    except BaseException as exc:
        # Workers waiting for plan.json read this and stop instead of waiting forever.
        atomic_write_json(rundir.p("plan.failed"), {"error": str(exc) or type(exc).__name__,
                                                    "time": time.time()})
        raise
    return {"run_dir": rundir.path, "created": created, "plan": plan,
            "requeued_failed": requeued, "published": plan["parts"]}

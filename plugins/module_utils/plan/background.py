# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan as a detached process (the partition module's ``detach``): the Kubernetes
executor plans on the operator host while the pods start.

The run is opened in the module (``open_run``: a plan the run cannot take fails the task with
its message); the crawl goes on in a supervised detached process (work/detach.py). Whatever
ends it before the plan is written - an error, its deadline, a SIGTERM from the play's end, a
SIGKILL - is recorded in the run's ``plan.failed``, which fails the watch with the planner's
message; its output, when it has any, is kept in the run's ``logs/plan.log``.
"""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import crawl, open_run
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import Program, spawn


class PlanProgram(Program):
    """The crawl of a run opened by ``start``: parameters shared_dir, run_id, meta, threads,
    timeout."""

    name = "plan"
    supervised = True  # a killed planner is a failed plan too

    def run(self, params):
        crawl(RunDir(params["shared_dir"], params["run_id"]), params["meta"], params["threads"])

    def crashed(self, params, error):
        rundir = RunDir(params["shared_dir"], params["run_id"])
        if rundir.exists() and not rundir.plan_complete() and rundir.plan_failed() is None:
            rundir.mark_plan_failed("%s (its output: %s)" % (error, rundir.plan_log_path()))

    def log_path(self, rundir, params):
        return rundir.plan_log_path()


def start(rundir, plan, timeout=0.0):
    """Open the run (create or resume it) here, then crawl it in a detached process.

    Returns the partition module's result: run_dir, created, requeued_failed, and pid.
    """
    meta, created, requeued = open_run(rundir, plan)
    pid = spawn(dict(shared_dir=rundir.shared_dir, run_id=rundir.run_id, meta=meta,
                     threads=plan.get("threads"), timeout=timeout), PlanProgram)[0]
    return {"run_dir": rundir.path, "created": created, "requeued_failed": requeued, "pid": pid}

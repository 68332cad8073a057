# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes executor's guard: its files in the run directory (``rundir.guard_paths``),
the detached process that waits on them, and the play's end that releases it.

The play starts a guard beside the run that deletes the Job and the Secret when the play
goes away: the watch beats (touches ``alive``) at every poll, the play's cleanup releases the
guard (writes ``done``), and the guard cleans up when the heartbeat goes stale unreleased.
The guard is a detached process (work/detach.py: it outlives an interrupted or killed
ansible-playbook); the play's end waits for it to exit, and stops a planner still crawling.
"""
from __future__ import annotations

import os
import sys
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private
from ansible_collections.datamover.fleet.plugins.module_utils.k8s import client as kc
from ansible_collections.datamover.fleet.plugins.module_utils.plan.background import PlanProgram
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import Program, end, spawn


class Guard:
    """The heartbeat and release marker of one run's guard."""

    def __init__(self, rundir):
        self.alive, self.done = rundir.guard_paths()

    def _parent(self):
        os.makedirs(os.path.dirname(self.alive), mode=0o700, exist_ok=True)

    def beat(self):
        self._parent()
        with open_private(self.alive, 0o600):
            os.utime(self.alive, None)

    def release(self):
        self._parent()
        with open_private(self.done, 0o600, append=False) as handle:
            handle.write(b"released\n")

    def released(self):
        return os.path.exists(self.done)

    def last_beat(self):
        try:
            return os.stat(self.alive).st_mtime
        except OSError:
            return 0  # the run directory is gone: so is the play

    def arm(self):
        """Forget an earlier execution's release, and beat. Returns the first beat's time."""
        self._parent()
        if self.released():
            os.unlink(self.done)  # a marker of an earlier execution of the same run
        self.beat()
        return self.last_beat()

    def wait(self, grace, startup, poll, armed=None):
        """Arm the guard (unless ``armed``, the first beat's time) and wait: "released" when
        the play released it, "stale" when its heartbeat stopped for ``grace`` seconds
        (``startup`` before the watch's first beat)."""
        first = self.arm() if armed is None else armed
        while not self.released():
            beat = self.last_beat()
            # Until the watch's first heartbeat the play is still creating things: allow for that.
            limit = grace if beat > first else max(grace, startup)
            if time.time() - beat > limit:
                return "stale"
            time.sleep(poll)
        return "released"


def guard(p, armed=None):
    """Wait (the k8s_guard module's parameters ``p``); when the play is gone, delete its Job
    and Secret. Returns (outcome, deleted): ("released", []) or ("cleaned", [objects])."""
    waited = Guard(RunDir(p["shared_dir"], p["run_id"])).wait(p["grace"], p["startup"], p["poll"],
                                                              armed=armed)
    if waited == "released":
        return "released", []
    try:
        api = kc.api_client(p["kubeconfig"], p["context"])
        return "cleaned", kc.delete_run_objects(api, p["namespace"], p["job_name"],
                                                p["secret_name"])
    except kc.K8sError as exc:
        raise kc.K8sError("the play is gone and the guard could not clean up: %s" % exc)


class GuardProgram(Program):
    """The guard as a detached process, armed by ``start_guard`` before it returned."""

    name = "guard"

    def run(self, params):
        outcome, deleted = guard(params, armed=params["armed"])
        if outcome == "cleaned":  # kept in kubernetes/guard.log: what was done, and when
            sys.stdout.write("%s: the play was gone (no heartbeat for %ss, not released): "
                             "deleted %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                               params["grace"],
                                               ", ".join(deleted) or "nothing (already gone)"))

    def log_path(self, rundir, params):
        return rundir.guard_log_path()


def start_guard(p, timeout=0.0):
    """Arm the guard here (before the task returns: a release that follows is never taken for
    an earlier execution's), then wait in a detached process. Returns its pid."""
    armed = Guard(RunDir(p["shared_dir"], p["run_id"])).arm()
    return spawn(dict(p, armed=armed, timeout=timeout), GuardProgram)[0]


def release(rundir, guard_pid=None, plan_pid=None, wait=30.0):
    """The play's end: release the guard and wait for it to exit (it polls every few seconds),
    and stop a detached planner that still crawls (the play ended before the plan did: what
    it would publish, no pod takes). Returns how each ended ("ended", "stopped", "running")."""
    Guard(rundir).release()
    ended = {}
    if plan_pid:
        # a finished plan's process is only cleaning up: a moment; an unfinished one is stopped
        finished = rundir.plan_complete() or rundir.plan_failed() is not None
        ended["plan"] = end(plan_pid, PlanProgram, wait=5.0 if finished else 0.0, stop_wait=wait)
    if guard_pid:
        ended["guard"] = end(guard_pid, GuardProgram, wait=wait, stop_wait=wait)
    return ended

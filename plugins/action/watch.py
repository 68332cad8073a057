# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch a run from the controller: one progress line per interval, one verdict at the end.

An ``until:`` loop over async_status prints "FAILED - RETRYING" lines that read badly in a
terminal and in AWX. This action runs datamover.fleet.run_status on the task's host (the run
directory may not be visible from the controller or an AWX execution environment) and prints
through Ansible's display, which AWX shows as job output too. When the task's host is the
controller itself (local connection), it reads the run directory in-process instead: a module
execution costs a Python start-up (~0.3 s of a core) per poll, which a small run waits for
and a large run on a 2-core host pays in transfer time. The loop is plugin_utils/watch_loop.py.
"""
from __future__ import annotations

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run import runlock
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import read_status
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import pid_alive
from ansible_collections.datamover.fleet.plugins.plugin_utils.in_process import local_host
from ansible_collections.datamover.fleet.plugins.plugin_utils.watch_loop import (
    COMMON_ARGS,
    WatchLoop,
    validated,
)

ARGS = dict(
    COMMON_ARGS,
    pid=dict(type="int"),
    host=dict(type="str"),
    startup_grace=dict(type="float", default=120.0),
    lock_nonce=dict(type="str"),
)

# The controller lock's heartbeat (runlock.py): in this process when local, else by the
# run_lock module on the task's host; its staleness limit is at least 120 s.
HEARTBEAT_EVERY = {True: 5.0, False: 30.0}


class SshWatch(WatchLoop):
    """Workers are detached processes on the hosts; this one's pid is known."""

    def __init__(self, action, args, task_vars):
        super().__init__(action, args, task_vars)
        self.local = local_host(action) and os.path.isdir(args["shared_dir"])
        self.first_wait = self.short_wait = 0.1 if self.local else 0.5
        self.rundir = RunDir(args["shared_dir"], args["run_id"])
        self.beat_at = self.job_checked = self.complete_seen = 0.0
        self.existed = False  # the run directory was seen during this watch

    def max_wait(self):
        return min(self.args["interval"], 0.25) if self.local else self.args["interval"]

    def read(self):
        self.heartbeat()
        st = self._status()
        if st.get("failed"):
            if self.existed and self.local and not self.rundir.exists():
                raise AnsibleActionFail(run_dir_gone(self.rundir.path))
            raise AnsibleActionFail("cannot read run status: %s" % st.get("msg"))
        if st["exists"]:
            self.existed = True
            return st
        if self.existed:
            raise AnsibleActionFail(run_dir_gone(self.rundir.path))
        # The planning worker creates the run: give it a moment, unless it died.
        if time.time() - self.job_checked > 2:
            self.check_job(None)
        if time.time() - self.started < self.args["startup_grace"]:
            return None
        raise AnsibleActionFail(
            "run %s was not created within %ds: the planning worker did not write its run.json "
            "(see its job's output)" % (self.args["run_id"], self.args["startup_grace"]))

    def _status(self):
        if not self.local:
            return self.module("datamover.fleet.run_status", self.status_args())
        try:
            return read_status(self.rundir, self.args["lease_seconds"])
        except (DatamoverError, OSError) as exc:
            return {"failed": True, "msg": str(exc)}

    def heartbeat(self):
        """This controller holds the run's lock: it keeps it fresh while it watches."""
        now = time.time()
        if not self.args["lock_nonce"] or now - self.beat_at < HEARTBEAT_EVERY[self.local]:
            return
        self.beat_at = now
        if self.local:
            runlock.heartbeat(self.rundir, self.args["lock_nonce"])
            return
        self.module("datamover.fleet.run_lock", {
            "shared_dir": self.args["shared_dir"], "run_id": self.args["run_id"],
            "state": "beat", "nonce": self.args["lock_nonce"]})

    def done(self, st, now):
        if not st["complete"]:
            return False
        if st.get("final", True):
            return True
        # the workers are writing their last records: wait (briefly) for exact totals
        self.complete_seen = self.complete_seen or now
        return True if now - self.complete_seen >= 5 else None

    def stopped(self, st, elapsed):
        return st["stop_requested"] and st["workers_alive"] == 0 and elapsed > 1

    def check(self, st, elapsed):
        if st["workers_alive"] == 0 and time.time() - self.job_checked > 2:
            self.check_job(st)
        # A record left by an earlier execution of the run is not this one's crash.
        crashed = [w for w in st["workers"] if w.get("status") == "crashed"
                   and w.get("updated", 0) >= (self.args["started"] or 0)]
        if crashed and st["workers_alive"] == 0 and not st["stop_requested"]:
            raise AnsibleActionFail(
                "no worker is alive and %s. The workers' logs: %s. Re-run the play with the "
                "same datamover_run_id to resume." % (
                    "; ".join("the worker on %s crashed: %s" % (w.get("host"), w.get("error"))
                              for w in crashed), os.path.join(st["run_dir"], "logs")))

    def nobody_message(self, st, elapsed):
        parts = st["parts"]
        return ("no worker is alive and %d partitions are not settled (todo %d, claimed %d). "
                "Workers' records: %s. Re-run the play with the same datamover_run_id to "
                "resume." % (parts["todo"] + parts["claimed"], parts["todo"], parts["claimed"],
                             ", ".join("%s=%s (%.0fs ago)" % (w.get("host"), w.get("status"),
                                                              w["age"])
                                       for w in st["workers"]) or "none"))

    def check_job(self, st):
        """Fail with the worker's own words when this host's detached worker has ended
        without settling the run (it could not start, or it was killed)."""
        self.job_checked = time.time()
        pid, host = self.args["pid"], self.args["host"]
        if not self.local or not pid or pid_alive(pid):
            return
        record = next((w for w in (st or {}).get("workers", []) if w.get("host") == host), None)
        if record is not None and record.get("status") in ("exited", "stopped"):
            return
        log = self.rundir.worker_log_path(host) if host else None
        tail = ""
        if log and os.path.exists(log):
            with open(log, "rb") as handle:
                tail = handle.read()[-2000:].decode("utf-8", "replace").strip()
        raise AnsibleActionFail("the worker on %s (pid %d) ended without finishing%s%s" % (
            host or "this host", pid,
            ": %s" % record.get("error") if record and record.get("error") else "",
            " (%s: %s)" % (log, tail.splitlines()[-1]) if tail else ""))

    def report(self):
        if not self.local:
            return super().report()
        try:
            return make_report(self.rundir, started=self.args["started"])
        except (DatamoverError, OSError) as exc:
            return {"failed": True, "msg": str(exc)}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        loop = SshWatch(self, validated(self._task.args, ARGS), task_vars)
        return loop.finish(result, loop.watch())


def run_dir_gone(path):
    """The run directory vanished while the run went on: say so, and what to do."""
    return ("the run directory %s disappeared during the run (deleted, or the shared file system "
            "unmounted or failed over on this host): the workers cannot record anything and stop. "
            "If the file system comes back, re-run the play with the same datamover_run_id to "
            "resume; if the directory was deleted, its plan and results are gone: start again "
            "with a new datamover_run_id (what was copied is at the destination, unverified)"
            % path)

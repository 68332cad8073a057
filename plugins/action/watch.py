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
and a large run on a 2-core host pays in transfer time.
"""
from __future__ import annotations

import os
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG
from ansible_collections.datamover.fleet.plugins.module_utils.run import runlock
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import pid_alive
from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import (
    Rate,
    progress_line,
    read_status,
)

display = Display()

ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    pid=dict(type="int"),
    host=dict(type="str"),
    report=dict(type="bool", default=False),
    started=dict(type="float"),
    max_requests_per_second=dict(type="float", default=0.0),
    tool_path=dict(type="path"),
    rclone_config=dict(type="path"),
    interval=dict(type="float", default=10.0),
    timeout=dict(type="float", default=0.0),
    **LEASE_ARG,
    startup_grace=dict(type="float", default=120.0),
    lock_nonce=dict(type="str"),
)

HEARTBEAT_EVERY = 5.0  # the controller lock's heartbeat (runlock.py), in local mode


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGS).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        args = validation.validated_parameters
        status_args = {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                       "lease_seconds": args["lease_seconds"]}
        local = self._is_local(args)
        if args["lock_nonce"] and not local:
            status_args["lock_nonce"] = args["lock_nonce"]  # the module beats at each poll
        beat = 0.0
        started = time.time()
        last_print, wait, st, last_job_check = 0.0, 0.1 if local else 0.5, None, 0.0
        recent = Rate(max(30.0, 3 * args["interval"]))  # the rate of late, not since start
        complete_seen = 0.0
        while True:
            st = self._status(local, status_args, task_vars)
            now = time.time()
            if local and args["lock_nonce"] and now - beat >= HEARTBEAT_EVERY:
                runlock.heartbeat(RunDir(args["shared_dir"], args["run_id"]), args["lock_nonce"])
                beat = now
            elapsed = now - started
            if st.get("failed"):
                raise AnsibleActionFail("cannot read run status: %s" % st.get("msg"))
            if not st["exists"]:
                # The planning worker creates the run: give it a moment, unless it died.
                if now - last_job_check > 2:
                    self._check_job(local, args, None)
                    last_job_check = now
                if elapsed < args["startup_grace"]:
                    time.sleep(0.2)
                    continue
                raise AnsibleActionFail(
                    "run %s was not created within %ds: the planning worker did not write its "
                    "run.json (see its job's output)" % (args["run_id"], args["startup_grace"]))
            recent.add(now, st["bytes_done"])
            rate = recent.rate()
            if st["complete"] and not st.get("final", True):
                # the workers are writing their last records: wait (briefly) for exact totals
                complete_seen = complete_seen or now
                if now - complete_seen < 5:
                    time.sleep(0.1)
                    continue
            if st["complete"] or now - last_print >= args["interval"]:
                display.display(progress_line(st, rate, elapsed))
                last_print = now
            if st["complete"]:
                break
            if st["workers_alive"] == 0 and now - last_job_check > 2:
                self._check_job(local, args, st)
                last_job_check = now
            # A record left by an earlier execution of the run is not this one's crash.
            crashed = [w for w in st["workers"] if w.get("status") == "crashed"
                       and w.get("updated", 0) >= (args["started"] or 0)]
            if crashed and st["workers_alive"] == 0 and not st["stop_requested"]:
                raise AnsibleActionFail(
                    "no worker is alive and %s. The workers' logs: %s. Re-run the play with the "
                    "same datamover_run_id to resume." % (
                        "; ".join("the worker on %s crashed: %s" % (w.get("host"), w.get("error"))
                                  for w in crashed),
                        os.path.join(st["run_dir"], "logs")))
            # A plan.failed older than this play is an earlier execution's, which the planning
            # worker is about to clear (a resume after a refused mirror, say): not this one's.
            if st["plan_failed"] and not (args["started"] and
                                          st["plan_failed"].get("time", 0) < args["started"]):
                raise AnsibleActionFail("planning failed: %s" % st["plan_failed"].get("error"))
            if elapsed > args["startup_grace"] and st["workers_alive"] == 0:
                raise AnsibleActionFail(
                    "no worker is alive and %d partitions are not settled (todo %d, claimed %d). "
                    "Workers' records: %s. Re-run the play with the same datamover_run_id to "
                    "resume." % (st["parts"]["todo"] + st["parts"]["claimed"], st["parts"]["todo"],
                                 st["parts"]["claimed"],
                                 ", ".join("%s=%s (%.0fs ago)" % (w.get("host"), w.get("status"), w["age"])
                                           for w in st["workers"]) or "none"))
            if st["stop_requested"] and st["workers_alive"] == 0 and elapsed > 1:
                break
            if args["timeout"] and elapsed > args["timeout"]:
                raise AnsibleActionFail("run not complete after %ds (datamover_timeout)" % elapsed)
            time.sleep(wait)
            wait = min(wait * 1.5, min(args["interval"], 0.25) if local else args["interval"])
        result.update(changed=False, status=st, seconds=round(time.time() - started, 3),
                      worker_problems=worker_problems(st, args["lease_seconds"]))
        if args["report"]:
            rep = self._report(local, {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                                       "started": args["started"],
                                       "max_requests_per_second":
                                           args["max_requests_per_second"],
                                       "tool_path": args["tool_path"],
                                       "rclone_config": args["rclone_config"]}, task_vars)
            if rep.get("failed"):
                raise AnsibleActionFail("cannot write the report: %s" % rep.get("msg"))
            result.update(changed=True, report=rep["report"], summary=rep["summary"],
                          report_json=rep["report_json"], report_md=rep["report_md"],
                          report_html=rep.get("report_html"))
        return result

    def _is_local(self, args):
        """The task's host is this controller and sees the run directory's parent."""
        return (getattr(self._connection, "transport", None) in ("local", "ansible.builtin.local")
                and os.path.isdir(args["shared_dir"]))

    def _status(self, local, status_args, task_vars):
        if not local:
            return self._execute_module(module_name="datamover.fleet.run_status",
                                        module_args=status_args, task_vars=task_vars)
        try:
            return read_status(RunDir(status_args["shared_dir"], status_args["run_id"]),
                               status_args["lease_seconds"])
        except (DatamoverError, OSError) as exc:
            return {"failed": True, "msg": str(exc)}

    def _report(self, local, report_args, task_vars):
        if not local:
            return self._execute_module(module_name="datamover.fleet.run_report",
                                        module_args=report_args, task_vars=task_vars)
        try:
            return make_report(RunDir(report_args["shared_dir"], report_args["run_id"]),
                               started=report_args["started"],
                               max_requests_per_second=report_args["max_requests_per_second"],
                               tool_path=report_args["tool_path"],
                               rclone_config=report_args["rclone_config"])
        except (DatamoverError, OSError) as exc:
            return {"failed": True, "msg": str(exc)}

    def _check_job(self, local, args, st):
        """Fail with the worker's own words when this host's detached worker has ended
        without settling the run (it could not start, or it was killed)."""
        if not local or not args["pid"] or pid_alive(args["pid"]):
            return
        rundir = RunDir(args["shared_dir"], args["run_id"])
        host = args["host"]
        record = next((w for w in (st or {}).get("workers", []) if w.get("host") == host), None)
        if record is not None and record.get("status") in ("exited", "stopped"):
            return
        log = rundir.worker_log_path(host) if host else None
        tail = ""
        if log and os.path.exists(log):
            with open(log, "rb") as handle:
                tail = handle.read()[-2000:].decode("utf-8", "replace").strip()
        raise AnsibleActionFail(
            "the worker on %s (pid %d) ended without finishing%s%s" % (
                host or "this host", args["pid"],
                ": %s" % record.get("error") if record and record.get("error") else "",
                " (%s: %s)" % (log, tail.splitlines()[-1]) if tail else ""))


def worker_problems(st, lease_seconds):
    """One line per worker that did not end cleanly: crashed, or silent (host lost)."""
    out = []
    for w in st["workers"]:
        if w.get("status") == "crashed":
            out.append("worker on %s crashed: %s" % (w.get("host"), w.get("error") or "see its job"))
        elif w.get("status") == "running" and w["age"] > lease_seconds:
            out.append("worker on %s did not end cleanly: no heartbeat for %ds (host lost?); its "
                       "partitions were taken over by the others" % (w.get("host"), w["age"]))
    return out

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one watch loop, shared by the SSH watch (action/watch.py) and the Kubernetes watch
(action/k8s_watch.py): poll the run, print a progress line per interval, end on a verdict,
then the end of the run - the clean-up at the destination, then the report (which only reads).

What differs by executor is a few hooks of ``WatchLoop``: how the status is read, what else
can fail the watch (a dead worker process, a failed Job), when a complete run is settled, and
what a progress line adds.
"""
from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.utils.display import Display

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import moves_data
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import Rate, progress_line
from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS

display = Display()

# What both watches take; each adds its executor's own options.
COMMON_ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    report=dict(type="bool", default=False),
    started=dict(type="float"),
    max_requests_per_second=dict(type="float", default=0.0),
    tool_path=dict(type="path"),
    rclone_config=dict(type="path"),
    interval=dict(type="float", default=10.0),
    timeout=dict(type="float", default=0.0),
    **LEASE_ARG,
)


def validated(task_args, spec):
    validation = ArgumentSpecValidator(spec).validate(task_args)
    if validation.error_messages:
        raise AnsibleActionFail("; ".join(validation.error_messages))
    return validation.validated_parameters


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


class WatchLoop:
    """A run watched until it is settled, stopped or failed; subclasses are the executors."""

    first_wait = 0.5  # seconds between the first polls; grows to the interval
    short_wait = 0.5  # seconds before the next poll while the run appears or settles

    def __init__(self, action, args, task_vars):
        self.action, self.args, self.task_vars = action, args, task_vars
        self.started = time.time()
        self.recent = Rate(max(30.0, 3 * args["interval"]))  # the rate of late, not since start

    # hooks ------------------------------------------------------------------------------
    def read(self):
        """The run's status (run_status's result), or None while there is none yet."""
        raise NotImplementedError

    def done(self, st, now):
        """True when the run is over and can be reported, None while a complete run settles
        (polled again shortly, nothing printed), False while it goes on."""
        return True if st["complete"] else False

    def check(self, st, elapsed):
        """Raise AnsibleActionFail for what this executor sees going wrong."""

    def stopped(self, st, elapsed):
        """True when a STOP file ended the run and the watch ends without a verdict."""
        return False

    def suffix(self):
        return ""

    def nobody_message(self, st, elapsed):
        """Why no worker is alive past the start-up grace, in this executor's words."""
        raise NotImplementedError

    def max_wait(self):
        return self.args["interval"]

    # the loop ---------------------------------------------------------------------------
    def module(self, name, module_args):
        module_args = {k: v for k, v in module_args.items() if v is not None}
        return self.action._execute_module(module_name=name, module_args=module_args,
                                           task_vars=self.task_vars)

    def status_args(self):
        return {"shared_dir": self.args["shared_dir"], "run_id": self.args["run_id"],
                "lease_seconds": self.args["lease_seconds"]}

    def watch(self):
        """Poll until the run ends; returns its last status."""
        last_print, wait = 0.0, self.first_wait
        while True:
            st = self.read()
            now = time.time()
            if st is not None:
                # before done(): pods that found nothing to do end a Job "Complete"
                self.plan_verdict(st)
            done = None if st is None else self.done(st, now)
            if done is None:
                time.sleep(self.short_wait)
                continue
            elapsed = now - self.started
            self.recent.add(now, st["bytes_done"])
            if done or now - last_print >= self.args["interval"]:
                display.display(progress_line(st, self.recent.rate(), elapsed) + self.suffix())
                last_print = now
            if done:
                return st
            self.check(st, elapsed)
            # Stopped (by the user, or by a worker that found the source gone): the report
            # says why and which partitions are left; not "no worker is alive".
            if self.stopped(st, elapsed):
                return st
            self.verdicts(st, elapsed)
            if self.args["timeout"] and elapsed > self.args["timeout"]:
                raise AnsibleActionFail("run not complete after %ds (datamover_timeout)" % elapsed)
            time.sleep(wait)
            wait = min(wait * 1.5, self.max_wait())

    def plan_verdict(self, st):
        """A failed plan fails any watch, with the planner's message (plan.failed)."""
        # A plan.failed older than this play is an earlier execution's, which the planning
        # worker is about to clear (a resume after a refused mirror, say): not this one's.
        failed = st["plan_failed"]
        if failed and not (self.args["started"] and failed.get("time", 0) < self.args["started"]):
            raise AnsibleActionFail("planning failed: %s" % failed.get("error"))

    def verdicts(self, st, elapsed):
        """What fails any watch: no worker alive past the start-up grace."""
        if elapsed > self.args["startup_grace"] and st["workers_alive"] == 0:
            raise AnsibleActionFail(self.nobody_message(st, elapsed))

    # the end of the run -----------------------------------------------------------------
    def finish(self, result, st):
        result.update(changed=False, status=st, seconds=round(time.time() - self.started, 3),
                      worker_problems=worker_problems(st, self.args["lease_seconds"]))
        if not self.args["report"]:
            return result
        self.cleanup(st)
        rep = self.report()
        if rep.get("failed"):
            raise AnsibleActionFail("cannot write the report: %s" % rep.get("msg"))
        result.update(changed=True, report=rep["report"], summary=rep["summary"],
                      report_json=rep["report_json"], report_md=rep["report_md"],
                      report_html=rep.get("report_html"))
        return result

    def cleanup(self, st):
        """The end-of-run clean-up at the destination (the multipart uploads the run left), in
        its own module execution: the credentials it needs stay out of this process. Its
        record is in the run directory for the report; it never fails the run."""
        tool = ((st.get("plan") or {}).get("tool") or st.get("tool"))
        if tool in TOOLS and not TOOLS[tool].sends_requests:
            return
        if st.get("run") and not moves_data(st["run"]):
            return  # an audit or a plan-only pass wrote nothing at the destination
        out = self.module("datamover.fleet.run_cleanup", {
            "shared_dir": self.args["shared_dir"], "run_id": self.args["run_id"],
            "max_requests_per_second": self.args["max_requests_per_second"],
            "tool_path": self.args.get("tool_path"),
            "rclone_config": self.args.get("rclone_config")})
        if out.get("failed"):
            display.warning("end-of-run clean-up at the destination: %s" % out.get("msg"))

    def report(self):
        return self.module("datamover.fleet.run_report", {
            "shared_dir": self.args["shared_dir"], "run_id": self.args["run_id"],
            "started": self.args["started"]})

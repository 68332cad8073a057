# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch a run whose workers are the pods of one Job: progress from the run directory, and the
Job's own verdict at every poll, so a failed Job ends the watch at once (kubernetes.core.k8s
with wait_condition Complete would wait out its whole timeout instead). The loop is
plugin_utils/watch_loop.py."""
from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.datamover.fleet.plugins.plugin_utils.watch_loop import (
    COMMON_ARGS,
    WatchLoop,
    validated,
)

ARGS = dict(
    COMMON_ARGS,
    namespace=dict(type="str", required=True),
    job_name=dict(type="str", required=True),
    heartbeat=dict(type="bool", default=False),
    startup_grace=dict(type="float", default=600.0),
    settle_grace=dict(type="float", default=30.0),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)


def pods_line(counts):
    return " | pods: %d active, %d succeeded, %d failed" % (
        counts.get("active", 0), counts.get("succeeded", 0), counts.get("failed", 0))


def failure_message(job_name, reason, pod_reasons, st):
    parts = st.get("parts", {}) if st else {}
    msg = "Job %s failed (%s)" % (job_name, reason)
    if parts:
        settled = parts.get("done", 0) + parts.get("failed", 0)
        msg += " with %d of %d partitions settled" % (settled, parts.get("total", 0))
    msg += ". " + ("; ".join(pod_reasons) if pod_reasons else "No pod left a reason.")
    return msg + " Fix the cause and re-run with the same datamover_run_id to resume."


class JobWatch(WatchLoop):
    """Workers are the pods of one Indexed Job; its verdict is read at every poll."""

    def __init__(self, action, args, task_vars):
        super().__init__(action, args, task_vars)
        self.job = {}
        self.settled_at = None
        self.job_args = {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                         "namespace": args["namespace"], "name": args["job_name"],
                         "heartbeat": args["heartbeat"], "kubeconfig": args["kubeconfig"],
                         "context": args["context"]}

    def read(self):
        self.job = job = self.module("datamover.fleet.k8s_job_status", self.job_args)
        if job.get("failed"):
            raise AnsibleActionFail("cannot read the worker Job: %s" % job.get("msg"))
        st = self.module("datamover.fleet.run_status", self.status_args())
        settled = not st.get("failed") and st["complete"]
        if job["verdict"] == "failed" and not settled:  # settled: the report says more
            pods = self.module("datamover.fleet.k8s_job_status", dict(self.job_args, pods=True))
            raise AnsibleActionFail(failure_message(
                self.args["job_name"], job.get("reason"), pods.get("pod_reasons") or [],
                None if st.get("failed") else st))
        if not job["exists"]:
            raise AnsibleActionFail("the worker Job %s/%s is gone (deleted by someone, or its "
                                    "ttlSecondsAfterFinished passed)"
                                    % (self.args["namespace"], self.args["job_name"]))
        if not st.get("failed"):
            return st
        if "no run.json" in str(st.get("msg")) \
                and time.time() - self.started < self.args["startup_grace"]:
            return None
        raise AnsibleActionFail("cannot read run status: %s" % st.get("msg"))

    def done(self, st, now):
        # Every partition settled: the pods exit 0 within a poll or two and the Job turns
        # Complete. Wait for that (briefly), so they are not deleted mid-exit.
        verdict = self.job["verdict"]
        if st["complete"] and verdict is None and self.settled_at is None:
            self.settled_at = now
        if verdict == "complete" or (st["complete"] and (
                verdict or now - self.settled_at > self.args["settle_grace"])):
            return True
        return None if self.settled_at is not None else False

    def suffix(self):
        return pods_line(self.job["counts"])

    def nobody_message(self, st, elapsed):
        pods = self.module("datamover.fleet.k8s_job_status", dict(self.job_args, pods=True))
        return ("no worker pod has reported for %ds and %d partitions are not settled: %s"
                % (elapsed, st["parts"]["todo"] + st["parts"]["claimed"],
                   "; ".join(pods.get("pod_reasons") or []) or "the pods are not running "
                   "(kubectl -n %s describe pods -l job-name=%s)"
                   % (self.args["namespace"], self.args["job_name"])))

    def finish(self, result, st):
        return super().finish(dict(result, job=self.job), st)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        loop = JobWatch(self, validated(self._task.args, ARGS), task_vars)
        return loop.finish(result, loop.watch())

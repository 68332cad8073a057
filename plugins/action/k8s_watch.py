# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch a run whose workers are the pods of one Job: progress from the run directory, and the
Job's own verdict at every poll, so a failed Job ends the watch at once (kubernetes.core.k8s
with wait_condition Complete would wait out its whole timeout instead)."""
from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG
from ansible_collections.datamover.fleet.plugins.action.watch import (
    progress_line,
    worker_problems,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import Rate

display = Display()

ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    job_name=dict(type="str", required=True),
    heartbeat=dict(type="bool", default=False),
    plan_jid=dict(type="str"),
    report=dict(type="bool", default=False),
    started=dict(type="float"),
    max_requests_per_second=dict(type="float", default=0.0),
    interval=dict(type="float", default=10.0),
    timeout=dict(type="float", default=0.0),
    **LEASE_ARG,
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
        job_args = {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                    "namespace": args["namespace"], "name": args["job_name"],
                    "heartbeat": args["heartbeat"], "kubeconfig": args["kubeconfig"],
                    "context": args["context"]}
        started = time.time()
        recent = Rate(max(30.0, 3 * args["interval"]))  # the rate of late, not since start
        last_print, wait, st, job, settled_at = 0.0, 0.5, None, {}, None
        while True:
            job = self._module("datamover.fleet.k8s_job_status", job_args, task_vars)
            if job.get("failed"):
                raise AnsibleActionFail("cannot read the worker Job: %s" % job.get("msg"))
            st = self._execute_module(module_name="datamover.fleet.run_status",
                                      module_args=status_args, task_vars=task_vars)
            now = time.time()
            elapsed = now - started
            settled = not st.get("failed") and st["complete"]
            if job["verdict"] == "failed" and not settled:  # settled: the report says more
                self._fail_job(args, job, None if st.get("failed") else st, task_vars)
            if not job["exists"]:
                raise AnsibleActionFail("the worker Job %s/%s is gone (deleted by someone, or "
                                        "its ttlSecondsAfterFinished passed)"
                                        % (args["namespace"], args["job_name"]))
            if st.get("failed"):
                self._check_plan(args, task_vars)
                if "no run.json" in str(st.get("msg")) and elapsed < args["startup_grace"]:
                    time.sleep(0.5)
                    continue
                raise AnsibleActionFail("cannot read run status: %s" % st.get("msg"))
            recent.add(now, st["bytes_done"])
            rate = recent.rate()
            # Every partition settled: the pods exit 0 within a poll or two and the Job turns
            # Complete. Wait for that (briefly), so they are not deleted mid-exit.
            if st["complete"] and job["verdict"] is None and settled_at is None:
                settled_at = now
            done = job["verdict"] == "complete" or (
                st["complete"] and (job["verdict"] or now - settled_at > args["settle_grace"]))
            if done or now - last_print >= args["interval"]:
                display.display(progress_line(st, rate, elapsed) + pods_line(job["counts"]))
                last_print = now
            if done:
                break
            if settled_at is not None:
                time.sleep(0.5)
                continue
            if st["plan_failed"]:
                raise AnsibleActionFail("planning failed: %s" % st["plan_failed"].get("error"))
            if elapsed > args["startup_grace"] and st["workers_alive"] == 0:
                pods = self._module("datamover.fleet.k8s_job_status", dict(job_args, pods=True),
                                    task_vars)
                raise AnsibleActionFail(
                    "no worker pod has reported for %ds and %d partitions are not settled: %s"
                    % (elapsed, st["parts"]["todo"] + st["parts"]["claimed"],
                       "; ".join(pods.get("pod_reasons") or []) or "the pods are not running "
                       "(kubectl -n %s describe pods -l job-name=%s)"
                       % (args["namespace"], args["job_name"])))
            if args["timeout"] and elapsed > args["timeout"]:
                raise AnsibleActionFail("run not complete after %ds (datamover_timeout)" % elapsed)
            self._check_plan(args, task_vars)
            time.sleep(wait)
            wait = min(wait * 1.5, args["interval"])
        result.update(changed=False, status=st, job=job, seconds=round(time.time() - started, 3),
                      worker_problems=worker_problems(st, args["lease_seconds"]))
        if args["report"]:
            rep = self._module("datamover.fleet.run_report",
                               {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                                "started": args["started"],
                                "max_requests_per_second": args["max_requests_per_second"]},
                               task_vars)
            if rep.get("failed"):
                raise AnsibleActionFail("cannot write the report: %s" % rep.get("msg"))
            result.update(changed=True, report=rep["report"], summary=rep["summary"],
                          report_json=rep["report_json"], report_md=rep["report_md"],
                          report_html=rep.get("report_html"))
        return result

    def _module(self, name, args, task_vars):
        args = {k: v for k, v in args.items() if v is not None}
        return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)

    def _fail_job(self, args, job, st, task_vars):
        pods = self._module("datamover.fleet.k8s_job_status",
                            {"shared_dir": args["shared_dir"], "run_id": args["run_id"],
                             "namespace": args["namespace"], "name": args["job_name"],
                             "pods": True, "kubeconfig": args["kubeconfig"],
                             "context": args["context"]}, task_vars)
        raise AnsibleActionFail(failure_message(args["job_name"], job.get("reason"),
                                                pods.get("pod_reasons") or [], st))

    def _check_plan(self, args, task_vars):
        """The plan runs as an async task on this host: its own message when it died."""
        if not args["plan_jid"]:
            return
        job = self._execute_module(module_name="ansible.builtin.async_status",
                                   module_args={"jid": args["plan_jid"]}, task_vars=task_vars)
        if job.get("finished") and job.get("failed"):
            raise AnsibleActionFail("planning failed on this host: %s"
                                    % (job.get("msg") or job.get("stderr") or "no message"))

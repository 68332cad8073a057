# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch a run from the controller: one progress line per interval, one verdict at the end.

An ``until:`` loop over async_status prints "FAILED - RETRYING" lines that read badly in a
terminal and in AWX. This action runs datamover.fleet.run_status on the task's host (the run
directory may not be visible from the controller or an AWX execution environment) and prints
through Ansible's display, which AWX shows as job output too.
"""
from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    plan_jid=dict(type="str"),
    interval=dict(type="float", default=10.0),
    timeout=dict(type="float", default=0.0),
    lease_seconds=dict(type="float", default=120.0),
    startup_grace=dict(type="float", default=120.0),
)


def _hb(n):
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return "%.0f %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%.1f TiB" % n


def _hs(s):
    s = int(max(0, s))
    return "%d:%02d:%02d" % (s // 3600, (s % 3600) // 60, s % 60)


def progress_line(st, rate, elapsed):
    parts = st["parts"]
    if st["plan_complete"]:
        head = "%d/%d parts" % (parts["done"] + parts["failed"], parts["total"])
    else:
        head = "crawling, %d parts so far" % parts["total"]
    line = "[datamover %s] %s" % (st["run_id"], head)
    if parts["failed"]:
        line += " (%d failed)" % parts["failed"]
    line += " | %d%s files" % (st["files_done"], "/%d" % st["files_total"] if st["files_total"] else "")
    line += " | %s%s" % (_hb(st["bytes_done"]), "/" + _hb(st["bytes_total"]) if st["bytes_total"] else "")
    line += " | %s/s" % _hb(rate)
    if st["bytes_total"] and rate > 0:
        line += " | ETA %s" % _hs(max(0, st["bytes_total"] - st["bytes_done"]) / rate)
    line += " | %d workers | %s elapsed" % (st["workers_alive"], _hs(elapsed))
    return line


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
        started = time.time()
        last_print, wait, st = 0.0, 0.5, None
        while True:
            st = self._execute_module(module_name="datamover.fleet.run_status",
                                      module_args=status_args, task_vars=task_vars)
            if st.get("failed"):
                raise AnsibleActionFail("cannot read run status: %s" % st.get("msg"))
            now = time.time()
            elapsed = now - started
            rate = st["bytes_done"] / elapsed if elapsed > 0 else 0.0
            if st["complete"] or now - last_print >= args["interval"]:
                display.display(progress_line(st, rate, elapsed))
                last_print = now
            if st["complete"]:
                break
            self._check_plan(args, st, task_vars)
            if st["plan_failed"]:
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
            wait = min(wait * 1.5, args["interval"])
        result.update(changed=False, status=st, seconds=round(time.time() - started, 3))
        return result

    def _check_plan(self, args, st, task_vars):
        if not args["plan_jid"] or st["plan_complete"]:
            return
        job = self._execute_module(module_name="ansible.builtin.async_status",
                                   module_args={"jid": args["plan_jid"]}, task_vars=task_vars)
        if job.get("finished") and (job.get("failed") or job.get("rc")):
            raise AnsibleActionFail("planning failed: %s" % (job.get("msg") or job.get("stderr")))

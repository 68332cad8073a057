# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take or release the run's controller lock (module datamover.fleet.run_lock).

Only the controller knows who it is (its host, the ansible-playbook process: the parent of
this forked worker) and whether a holder that ran on this same host is still alive; the lock
itself lives in the run directory, which only the task's host may see. So this action names
the controller, runs the module on the host, and when a holder of this host is refused whose
pid is dead (or reused by another process), asks the module to break exactly that lock.
"""
from __future__ import annotations

import getpass
import os
import socket
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG
from ansible_collections.datamover.fleet.plugins.module_utils.run import runlock
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import pid_alive
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import failure
from ansible_collections.datamover.fleet.plugins.plugin_utils.in_process import local_host

MODULE = "datamover.fleet.run_lock"
# The options a play gives (holder and breaks are this plugin's own, for the module).
ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
    state=dict(type="str", default="held", choices=["held", "released", "beat"]),
    nonce=dict(type="str", required=True),
    **LEASE_ARG,
    interval=dict(type="float", default=10.0),
    run_dir_access=dict(type="str", default="private", choices=["private", "group"]),
)


def process_start(pid):
    """The start time of ``pid`` in clock ticks since boot (/proc), or None: a pid reused by
    another process has another start time."""
    try:
        with open("/proc/%d/stat" % int(pid), "rb") as handle:
            data = handle.read()
        return data[data.rindex(b")") + 2:].split()[19].decode("ascii")
    except (OSError, ValueError, IndexError):
        return None


def holder_alive(holder):
    """A holder that ran on this host: is its controller process still the one running?"""
    try:
        pid = int(holder.get("pid"))
    except (TypeError, ValueError):
        return True  # cannot tell: not provably gone
    if not pid_alive(pid):
        return False
    started = holder.get("pid_started")
    return not started or process_start(pid) in (None, started)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def _lock(self, args, task_vars):
        """The module's work: in this process when the task's host is this controller (a
        local connection, no become: the same file system, the same user), which saves a
        module round trip (0.3-0.5 s) twice per run; else the module on the host."""
        if not local_host(self):
            return self._execute_module(module_name=MODULE, module_args=args,
                                        task_vars=task_vars)
        params = dict(args)
        params.setdefault("holder", None)
        params.setdefault("breaks", None)
        try:
            return runlock.run_lock(params)
        except Exception as exc:  # a bug included: failure() keeps its traceback
            return dict(failure(exc), failed=True)  # as the module would fail

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGS).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        args = dict(validation.validated_parameters)
        if args["state"] in ("released", "beat"):
            result.update(self._lock(args, task_vars))
            return result
        pid = os.getppid()  # the ansible-playbook process: workers are forked from it
        me = {"host": socket.gethostname(), "pid": pid, "pid_started": process_start(pid),
              "user": getpass.getuser(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "started_epoch": round(time.time(), 3)}
        args["holder"] = me
        out = self._lock(args, task_vars)
        held = out.get("holder") or {}
        if (not out.get("failed") and not out.get("taken") and held.get("host") == me["host"]
                and held.get("nonce") and not holder_alive(held)):
            out = self._lock(dict(args, breaks=held["nonce"]), task_vars)
        if not out.get("failed") and not out.get("taken"):
            out["failed"] = True
        elif out.get("broken"):
            gone = out["broken"]
            out.setdefault("warnings", []).append(
                "the controller lock of a controller that is gone (host %s, pid %s, started %s) "
                "was taken over" % (gone.get("host"), gone.get("pid"), gone.get("started")))
        result.update(out)
        return result

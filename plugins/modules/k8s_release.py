#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_release
short_description: Tell a run's guard that the play has cleaned up, and remove the canary
version_added: "0.1.0"
description:
  - Writes the run's guard release marker so that M(datamover.fleet.k8s_guard) exits without deleting anything (the play's
    C(always) section has deleted the objects itself, or keeps them for debugging).
  - With O(guard_pid), waits for that detached guard to exit (it looks every few seconds),
    and stops it after O(wait) seconds if it has not.
  - With O(plan_pid), a detached planner (M(datamover.fleet.partition) with C(detach)) that
    still crawls is stopped (the play ended before the plan did; its C(plan.failed) says so
    and a resume plans again), and its end waited for. A finished one is given a moment to exit.
  - A pid is only signalled while it is still the detached guard or planner (not a pid the
    system gave to another process since).
  - Removes the preflight canary of O(nonce) from the shared directory.
  - Removes the run's credentials file (C(private/secrets.json), credentials taken out of the
    destination or tool options), so that they do not outlive the run on the shared file system.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  nonce:
    description: Canary nonce from M(datamover.fleet.preflight) C(stage=prepare).
    type: str
  guard_pid:
    description: Process id of the detached guard (the C(pid) result of M(datamover.fleet.k8s_guard) with C(detach)).
    type: int
  plan_pid:
    description: Process id of the detached planner (the C(pid) result of M(datamover.fleet.partition) with C(detach)).
    type: int
  wait:
    description: Seconds to wait for each process to exit, before and after it is asked to stop.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Kubernetes | release the guard
  datamover.fleet.k8s_release:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    guard_pid: "{{ datamover_k8s_guard.pid }}"
    plan_pid: "{{ datamover_k8s_plan.pid }}"
"""

RETURN = r"""
released:
  description: Whether the marker was written.
  returned: always
  type: bool
ended:
  description:
    - How each detached process given ended, by name (C(guard), C(plan)) - C(ended) (by
      itself, or it had already), C(stopped) (by SIGTERM), or C(running) (it would not stop;
      a warning says so).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import release
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir, remove_canary


def main():
    module = AnsibleModule(argument_spec=run_args(nonce=dict(type="str", no_log=False),
                                                  guard_pid=dict(type="int"),
                                                  plan_pid=dict(type="int"),
                                                  wait=dict(type="float", default=30.0)),
                           supports_check_mode=False)
    p = module.params
    rundir = RunDir(p["shared_dir"], p["run_id"])
    ended = release(rundir, guard_pid=p["guard_pid"], plan_pid=p["plan_pid"], wait=p["wait"])
    if p["nonce"]:
        remove_canary(p["shared_dir"], p["nonce"])
    # the run's end: credentials taken from the destination do not outlive it (the pods that
    # needed them are gone; a resume writes them again from the user's input)
    rundir.remove_secrets()
    for name, how in ended.items():
        if how == "running":
            module.warn("the detached %s (pid %d) did not exit after SIGTERM"
                        % (name, p[name + "_pid"]))
    module.exit_json(changed=True, released=True, ended=ended)


if __name__ == "__main__":
    main()

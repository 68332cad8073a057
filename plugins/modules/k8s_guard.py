#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_guard
short_description: Delete a run's Job and Secret when the play that created them is gone
version_added: "0.1.0"
description:
  - Started with O(detach=true) before the play creates anything in the cluster. The task arms
    the guard and returns at once with the pid of a detached process (its own session,
    parameters on its stdin) that waits. Ansible runs no C(rescue)/C(always) when
    ansible-playbook is interrupted or killed (Ctrl-C, an AWX cancel, a lost controller), so
    this guard outlives it on the operator host. Without O(detach) the module waits itself
    (run it with C(async) and C(poll=0)).
  - While the play watches, M(datamover.fleet.k8s_job_status) touches the run's guard heartbeat
    (in the run directory). When the heartbeat is older than O(grace) seconds and the play has not
    released the guard (M(datamover.fleet.k8s_release)), the guard deletes the
    Job (with its pods) and the Secret, and exits.
  - The play's C(always) section releases it (after its own cleanup, or to keep the pods with
    C(datamover_keep_pods)) and waits for it to exit (M(datamover.fleet.k8s_release) with
    O(datamover.fleet.k8s_release#module:guard_pid)); the guard then exits without touching
    anything.
  - The detached guard's output, when it has any (what it deleted, or why it could not), is
    kept in the run directory's C(kubernetes/guard.log).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.k8s_auth
requirements:
  - kubernetes (Python client)
options:
  namespace:
    description: Namespace of the Job and the Secret.
    type: str
    required: true
  job_name:
    description: The Job to delete.
    type: str
    required: true
  secret_name:
    description: The Secret to delete.
    type: str
  grace:
    description: Seconds without a heartbeat before the play counts as gone.
    type: float
    default: 120
  startup:
    description: Seconds allowed before the watch's first heartbeat (the play creates the Secret and the Job meanwhile).
    type: float
    default: 120
  poll:
    description: Seconds between checks.
    type: float
    default: 2
  detach:
    description:
      - Arm the guard, then wait in a detached process and return its pid at once, instead of
        waiting in the module. Cheaper than C(async) by a temp directory, a wrapper process
        and a result file in C(~/.ansible_async).
    type: bool
    default: false
  timeout:
    description: With O(detach), the detached guard exits after this many seconds, cleaning nothing (what C(async)'s timeout did); 0 means never.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Kubernetes | guard what the play creates (cleans up if the play is interrupted)
  datamover.fleet.k8s_guard:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    job_name: dm-ckpt-2026-11-1a2b3c4d
    secret_name: dm-ckpt-2026-11-1a2b3c4d-rclone
    detach: true
    timeout: 604800
  register: datamover_k8s_guard
"""

RETURN = r"""
pid:
  description: Process id of the detached guard on this host.
  returned: when O(detach=true)
  type: int
outcome:
  description: C(released) (the play finished) or C(cleaned) (the play was gone; objects deleted).
  returned: when O(detach=false)
  type: str
deleted:
  description: The objects the guard deleted.
  returned: when O(detach=false)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.k8s import client as kc
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.errors import require_library
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard
from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import guard, start_guard


def main():
    module = AnsibleModule(
        argument_spec=run_args(namespace=dict(type="str", required=True),
                               job_name=dict(type="str", required=True),
                               secret_name=dict(type="str", no_log=False),
                               grace=dict(type="float", default=120.0),
                               startup=dict(type="float", default=120.0),
                               poll=dict(type="float", default=2.0),
                               detach=dict(type="bool", default=False),
                               timeout=dict(type="float", default=0.0),
                               **kc.AUTH_ARGS),
        supports_check_mode=False)
    p = module.params
    with module_guard(module):
        require_library("kubernetes", kc.HAS_KUBERNETES, kc.KUBERNETES_IMPORT_ERROR)
        if p["detach"]:
            result = dict(changed=False, pid=start_guard(p, timeout=p["timeout"]))
        else:
            outcome, deleted = guard(p)
            result = dict(changed=bool(deleted), outcome=outcome, deleted=deleted)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

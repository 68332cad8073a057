#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_job_status
short_description: Whether a run's worker Job has ended, and why its pods failed
version_added: "0.1.0"
description:
  - Reads the Job of a run and says whether it is C(complete), C(failed) or still running
    (C(verdict) null), from its C(Complete)/C(Failed) conditions (and C(SuccessCriteriaMet)/
    C(FailureTarget), which Kubernetes 1.31+ sets as soon as the outcome is decided).
  - With O(pods=true), also one line per pod that failed or is stuck (exit code and the worker's
    last words, image pull errors, unschedulable).
  - With O(heartbeat), touches the run's guard heartbeat so that M(datamover.fleet.k8s_guard) knows
    the play is still watching.
  - M(datamover.fleet.k8s_watch) calls it at every poll.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.k8s_auth
requirements:
  - kubernetes (Python client)
options:
  namespace:
    description: Namespace of the Job.
    type: str
    required: true
  name:
    description: Name of the Job.
    type: str
    required: true
  pods:
    description: Also read the Job's pods and return their failure reasons.
    type: bool
    default: false
  heartbeat:
    description: Touch the run's guard heartbeat (the guard deletes the run's objects when it gets stale).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Kubernetes | how is the worker Job doing
  datamover.fleet.k8s_job_status:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    name: dm-ckpt-2026-11-1a2b3c4d
    pods: true
  register: job_status
"""

RETURN = r"""
exists:
  description: Whether the Job exists.
  returned: always
  type: bool
verdict:
  description: C(complete), C(failed), or null while the Job runs.
  returned: always
  type: str
reason:
  description: The condition's reason and message.
  returned: always
  type: str
counts:
  description: Pods C(active), C(ready), C(succeeded) and C(failed).
  returned: always
  type: dict
pod_reasons:
  description: One line per failed or stuck pod (with O(pods=true)).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.k8s import client as kc
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.errors import require_library
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard
from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import Guard
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.k8s.job import (
    job_counts,
    job_verdict,
    pod_reasons,
)


def main():
    module = AnsibleModule(
        argument_spec=run_args(namespace=dict(type="str", required=True),
                               name=dict(type="str", required=True),
                               pods=dict(type="bool", default=False),
                               heartbeat=dict(type="bool", default=False),
                               **kc.AUTH_ARGS),
        supports_check_mode=True)
    with module_guard(module):
        require_library("kubernetes", kc.HAS_KUBERNETES, kc.KUBERNETES_IMPORT_ERROR)
    p = module.params
    if p["heartbeat"]:
        Guard(RunDir(p["shared_dir"], p["run_id"])).beat()
    with module_guard(module):
        api = kc.api_client(p["kubeconfig"], p["context"])
        job = kc.read_job(api, p["namespace"], p["name"])
        verdict, reason = job_verdict(job)
        reasons = pod_reasons(kc.list_pods(api, p["namespace"], p["name"])) if p["pods"] else []
    module.exit_json(changed=False, exists=job is not None, verdict=verdict, reason=reason,
                     counts=job_counts(job), pod_reasons=reasons)


if __name__ == "__main__":
    main()

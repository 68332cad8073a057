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
  - Started with C(async) and C(poll 0) before the play creates anything in the cluster. Ansible runs
    no C(rescue)/C(always) when ansible-playbook is interrupted (Ctrl-C, an AWX cancel, a lost
    controller), so this guard outlives it on the operator host.
  - While the play watches, M(datamover.fleet.k8s_job_status) touches the run's guard heartbeat
    (in the run directory). When the heartbeat is older than O(grace) seconds and the play has not
    released the guard (M(datamover.fleet.k8s_release)), the guard deletes the
    Job (with its pods) and the Secret, and exits.
  - The play's C(always) section releases it (after its own cleanup, or to keep the pods with
    C(datamover_keep_pods)); the guard then exits without touching anything.
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
"""

EXAMPLES = r"""
- name: Kubernetes | guard what the play creates (cleans up if the play is interrupted)
  datamover.fleet.k8s_guard:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    job_name: dm-ckpt-2026-11-1a2b3c4d
    secret_name: dm-ckpt-2026-11-1a2b3c4d-rclone
  async: 604800
  poll: 0
"""

RETURN = r"""
outcome:
  description: C(released) (the play finished) or C(cleaned) (the play was gone; objects deleted).
  returned: always
  type: str
deleted:
  description: The objects the guard deleted.
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


def main():
    module = AnsibleModule(
        argument_spec=run_args(namespace=dict(type="str", required=True),
                               job_name=dict(type="str", required=True),
                               secret_name=dict(type="str", no_log=False),
                               grace=dict(type="float", default=120.0),
                               startup=dict(type="float", default=120.0),
                               poll=dict(type="float", default=2.0),
                               **kc.AUTH_ARGS),
        supports_check_mode=False)
    with module_guard(module):
        require_library("kubernetes", kc.HAS_KUBERNETES, kc.KUBERNETES_IMPORT_ERROR)
    p = module.params
    if Guard(RunDir(p["shared_dir"], p["run_id"])).wait(p["grace"], p["startup"], p["poll"]) \
            == "released":
        module.exit_json(changed=False, outcome="released", deleted=[])
    with module_guard(module):
        try:
            api = kc.api_client(p["kubeconfig"], p["context"])
            deleted = kc.delete_run_objects(api, p["namespace"], p["job_name"], p["secret_name"])
        except kc.K8sError as exc:
            raise kc.K8sError("the play is gone and the guard could not clean up: %s" % exc)
    module.exit_json(changed=bool(deleted), outcome="cleaned", deleted=deleted)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_preflight
short_description: Check the cluster before a run's worker Job is created
version_added: "0.1.0"
description:
  - Reads the server version (it selects the Job's features) and checks that the namespace, the
    PVCs, the service account and the image pull Secrets exist. A pod referring to a missing PVC
    stays Pending without failing the Job; this says so before anything is created.
  - All problems are reported together.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.k8s_auth
requirements:
  - kubernetes (Python client)
options:
  namespace:
    description: Namespace of the run's objects.
    type: str
    required: true
  pvcs:
    description: PVC names the pods mount.
    type: list
    elements: str
    default: []
  service_account:
    description: Service account of the pods (empty = the namespace's default).
    type: str
    default: ""
  image_pull_secrets:
    description: Secrets for pulling the worker image.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Kubernetes | cluster version, namespace, PVCs
  datamover.fleet.k8s_preflight:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    pvcs: [lustre]
  register: cluster
"""

RETURN = r"""
server_version:
  description: The server's git version (C(v1.31.2)).
  returned: success
  type: str
problems:
  description: What is missing (empty on success).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.k8s import client as kc
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.errors import require_library
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard


def main():
    module = AnsibleModule(
        argument_spec=run_args(namespace=dict(type="str", required=True),
                               pvcs=dict(type="list", elements="str", default=[]),
                               service_account=dict(type="str", default=""),
                               image_pull_secrets=dict(type="list", elements="str", default=[],
                                                       no_log=False),
                               **kc.AUTH_ARGS),
        supports_check_mode=True)
    with module_guard(module):
        require_library("kubernetes", kc.HAS_KUBERNETES, kc.KUBERNETES_IMPORT_ERROR)
    p = module.params
    with module_guard(module):
        try:
            api = kc.api_client(p["kubeconfig"], p["context"])
            version = kc.server_version(api)
            problems = kc.missing_objects(api, p["namespace"], sorted(set(p["pvcs"])),
                                          p["service_account"], p["image_pull_secrets"])
        except kc.K8sError as exc:
            exc.details["problems"] = [str(exc)]
            raise
        if problems:
            raise kc.K8sError("Kubernetes preflight: " + " | ".join(problems), problems=problems)
    module.exit_json(changed=False, server_version=version, problems=[])


if __name__ == "__main__":
    main()

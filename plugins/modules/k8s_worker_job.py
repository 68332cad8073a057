#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_worker_job
short_description: Render the Indexed Job whose pods are a run's workers
version_added: "0.1.0"
description:
  - Returns the manifest of one Indexed Job (C(completions = parallelism = pods)); every pod
    runs the same worker loop as an SSH worker host (C(python -m ...worker_cli)) against the run
    directory on a shared PVC. Nothing is sent to the cluster; M(kubernetes.core.k8s) applies it.
  - Also returns the name and labels of the Secret that holds the rclone config. Its content never
    passes through this module; the Secret is mounted read-only in the pods, never an environment
    variable.
  - C(backoffLimitPerIndex) (1.29+) and C(podFailurePolicy) (1.29+) are set according to
    O(server_version); an older cluster gets C(backoffLimit) instead.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  namespace:
    description: Namespace of the Job and the Secret.
    type: str
    required: true
  server_version:
    description: Kubernetes server version (C(1.30), C(v1.30.4)), from M(kubernetes.core.k8s_cluster_info).
    type: str
    required: true
  image:
    description: Worker image (see C(images/worker/Containerfile)).
    type: str
    required: true
  image_pull_policy:
    description: Pull policy of the worker container.
    type: str
    choices: [Always, IfNotPresent, Never]
    default: IfNotPresent
  image_pull_secrets:
    description: Names of Secrets for pulling the image (OCIR).
    type: list
    elements: str
    default: []
  pods:
    description: Worker pods (completions and parallelism).
    type: int
    required: true
  slots:
    description: Concurrent transfers per pod.
    type: int
    default: 2
  max_requests_per_second:
    description: Requests a second the whole Job may send to the object store (0 = no
      limit); each pod gets an equal share (C(--max-requests-per-second) of the worker).
    type: float
    default: 0
  retries:
    description: Further attempts per partition.
    type: int
    default: 3
  backoff:
    description: Seconds before the first retry of a partition.
    type: float
    default: 5
  lease_seconds:
    description: A claim not refreshed for this long is taken over.
    type: float
    default: 120
  run_wait:
    description: Seconds a pod waits for the run to appear in the shared directory.
    type: float
    default: 120
  tool:
    description: Transfer tool of the run.
    type: str
    choices: [rclone, rsync]
    required: true
  source:
    description: Source directory; the source PVC is mounted there (read-only), as on the operator host.
    type: path
    required: true
  destination:
    description: rclone remote, or (rsync) the directory where the destination PVC is mounted.
    type: str
    required: true
  source_pvc:
    description: PVC holding the source.
    type: str
    required: true
  source_subpath:
    description: Path inside the source PVC mounted at O(source).
    type: str
    default: ""
  shared_pvc:
    description: PVC holding the shared directory (may be the same PVC as the source).
    type: str
    required: true
  shared_subpath:
    description: Path inside the shared PVC mounted at O(shared_dir).
    type: str
    default: ""
  destination_pvc:
    description: PVC holding the rsync destination (required for rsync).
    type: str
  destination_subpath:
    description: Path inside the destination PVC mounted at O(destination).
    type: str
    default: ""
  secret_mount:
    description: Where the rclone config Secret is mounted in the pods (read-only).
    type: str
    default: /etc/datamover/rclone
  resources:
    description: Requests and limits of the worker container (C(requests), C(limits)).
    type: dict
    default: {}
  node_selector:
    description: Node labels the pods must run on.
    type: dict
    default: {}
  tolerations:
    description: Tolerations of the pods.
    type: list
    elements: dict
    default: []
  service_account:
    description: Service account of the pods (its token is not mounted; the workers never call the API).
    type: str
    default: ""
  ttl_seconds_after_finished:
    description: The cluster deletes the finished Job (and its pods) after this many seconds.
    type: int
    default: 86400
  active_deadline_seconds:
    description: The Job fails when it runs longer than this.
    type: int
    default: 604800
  backoff_limit_per_index:
    description: Restarts of one pod index after a crash (exit 1); exit codes 2 and 3 fail the Job at once.
    type: int
    default: 2
  run_as_user:
    description: UID of the workers; C(0) runs them as root (needed when rsync must keep owners or the files are not readable by this UID).
    type: int
    default: 10001
  run_as_group:
    description: GID (and fsGroup) of the workers; defaults to O(run_as_user).
    type: int
  labels:
    description: Extra labels on the Job, its pods and the Secret.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Kubernetes | render the worker Job
  datamover.fleet.k8s_worker_job:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    server_version: "1.31"
    image: fra.ocir.io/mytenancy/datamover-worker:0.1.0
    pods: 8
    slots: 4
    tool: rclone
    source: /lst/ml-checkpoints
    destination: oci:ckpt-bucket
    source_pvc: lustre
    shared_pvc: lustre
    source_subpath: ml-checkpoints
    shared_subpath: datamover
  register: worker_job
"""

RETURN = r"""
job:
  description: The Job manifest.
  returned: always
  type: dict
job_name:
  description: Name of the Job (derived from the run id).
  returned: always
  type: str
secret:
  description: C(name), C(namespace) and C(labels) of the rclone config Secret (rclone runs only).
  returned: always
  type: dict
features:
  description: Which Job features the server version has (C(pod_failure_policy), C(backoff_limit_per_index)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS

from ansible_collections.datamover.fleet.plugins.module_utils.k8s import manifests as km
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import argument_spec

ARGS = dict(
    namespace=dict(type="str", required=True),
    server_version=dict(type="str", required=True),
    image=dict(type="str", required=True),
    image_pull_policy=dict(type="str", default="IfNotPresent",
                           choices=["Always", "IfNotPresent", "Never"]),
    image_pull_secrets=dict(type="list", elements="str", default=[], no_log=False),
    pods=dict(type="int", required=True),
    tool=dict(type="str", required=True, choices=sorted(TOOLS)),
    source=dict(type="path", required=True),
    destination=dict(type="str", required=True),
    source_pvc=dict(type="str", required=True),
    source_subpath=dict(type="str", default=""),
    shared_pvc=dict(type="str", required=True),
    shared_subpath=dict(type="str", default=""),
    destination_pvc=dict(type="str"),
    destination_subpath=dict(type="str", default=""),
    secret_mount=dict(type="str", default="/etc/datamover/rclone", no_log=False),
    resources=dict(type="dict", default={}),
    node_selector=dict(type="dict", default={}),
    tolerations=dict(type="list", elements="dict", default=[]),
    service_account=dict(type="str", default=""),
    ttl_seconds_after_finished=dict(type="int", default=86400),
    active_deadline_seconds=dict(type="int", default=604800),
    backoff_limit_per_index=dict(type="int", default=2),
    run_as_user=dict(type="int", default=10001),
    run_as_group=dict(type="int"),
    labels=dict(type="dict", default={}),
)
# the worker settings each pod is started with, declared with the worker's
ARGS.update((name, spec) for name, spec in argument_spec().items()
            if name in ("slots", "max_requests_per_second", "retries", "backoff", "lease_seconds",
                        "run_wait"))


def main():
    module = AnsibleModule(argument_spec=run_args(**ARGS),
                           required_if=[("tool", "rsync", ("destination_pvc",))],
                           supports_check_mode=True)
    p = module.params
    with module_guard(module):
        job = km.job(p)
        feats = km.features(p["server_version"])
    module.exit_json(changed=False, job=job, job_name=job["metadata"]["name"],
                     secret=km.secret_meta(p), features=feats)


if __name__ == "__main__":
    main()

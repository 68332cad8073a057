#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_watch
short_description: Follow a run whose workers are the pods of one Job, ending on the Job's verdict
version_added: "0.1.0"
description:
  - Action plugin. Like M(datamover.fleet.watch), prints one progress line per O(interval) from
    the run directory (M(datamover.fleet.run_status) on the task's host), plus the Job's pods.
  - At every poll it also reads the Job (M(datamover.fleet.k8s_job_status)). The watch ends at once
    when the Job is C(Complete) or C(Failed). A failed Job fails the task with the reason of each
    failed pod (exit code and the worker's last line), unless every partition had settled (then
    the report says how the run went).
  - Fails when planning failed (the run directory's C(plan.failed), with the planner's message;
    before the Job's verdict, since pods that find nothing to do end it C(Complete)), when no pod has reported after O(startup_grace) (with the pods'
    waiting reasons, such as an image pull error), or after O(timeout).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.k8s_auth
requirements:
  - kubernetes (Python client) on the task's host
options:
  namespace:
    description: Namespace of the Job.
    type: str
    required: true
  job_name:
    description: Name of the worker Job.
    type: str
    required: true
  heartbeat:
    description: Touch the run's guard heartbeat at every poll, for M(datamover.fleet.k8s_guard).
    type: bool
    default: false
  report:
    description: At the end, abort the multipart uploads the run left behind
      (M(datamover.fleet.run_cleanup), rclone only), then write report.json, report.md and
      report.html (M(datamover.fleet.run_report)).
    type: bool
    default: false
  started:
    description: Epoch seconds when this execution started, for the report's C(seconds).
    type: float
  max_requests_per_second:
    description: With O(report), the request budget of the end-of-run clean-up of the
      multipart uploads the run left behind (M(datamover.fleet.run_cleanup), run before the
      report); 0 = no limit.
    type: float
    default: 0
  tool_path:
    description: With O(report), the transfer tool binary on this host when it is not on PATH
      (for the end-of-run clean-up).
    type: path
  rclone_config:
    description: With O(report), the rclone config file on this host when not the run's (for
      the end-of-run clean-up).
    type: path
  interval:
    description: Seconds between progress lines (polling starts faster and backs off to this).
    type: float
    default: 10
  timeout:
    description: Give up after this many seconds (0 = never).
    type: float
    default: 0
  lease_seconds:
    description: Must match the workers' lease.
    type: float
    default: 120
  startup_grace:
    description: Seconds to wait for the first pod to report (image pulls, node scale-up).
    type: float
    default: 600
  settle_grace:
    description:
      - Once every partition is settled, seconds to wait for the pods to exit and the Job to turn
        C(Complete) before reporting anyway.
    type: float
    default: 30
  kubeconfig:
    description: Kubeconfig file on the task's host (default C(KUBECONFIG), C(~/.kube/config), or in-cluster).
"""

EXAMPLES = r"""
- name: Watch | progress until the Job ends or every partition is settled
  datamover.fleet.k8s_watch:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    namespace: datamover
    job_name: dm-ckpt-2026-11-1a2b3c4d
    interval: 30
    report: true
"""

RETURN = r"""
status:
  description: The last M(datamover.fleet.run_status) result.
  returned: always
  type: dict
job:
  description: The last M(datamover.fleet.k8s_job_status) result.
  returned: always
  type: dict
seconds:
  description: How long the watch ran.
  returned: always
  type: float
worker_problems:
  description: One line per worker (pod) that crashed or went silent.
  returned: always
  type: list
  elements: str
report:
  description: The content of report.json.
  returned: when O(report=true)
  type: dict
summary:
  description: A few lines for people.
  returned: when O(report=true)
  type: list
  elements: str
report_json:
  description: Path of report.json.
  returned: when O(report=true)
  type: str
report_md:
  description: Path of report.md.
  returned: when O(report=true)
  type: str
report_html:
  description: Path of report.html (self-contained, with charts).
  returned: when O(report=true)
  type: str
"""

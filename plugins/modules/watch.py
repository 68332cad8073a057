#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: watch
short_description: Follow a run until every partition is settled, printing progress
version_added: "0.1.0"
description:
  - Action plugin. Polls M(datamover.fleet.run_status) on the task's host and prints one
    progress line per O(interval) (partitions, files, bytes, rate, ETA, live workers).
  - Fails when planning failed, when no worker is alive while work remains, or after O(timeout).
  - Returns when every partition is done or failed; the report step decides success.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  pid:
    description:
      - Process id of the detached M(datamover.fleet.worker) on this host (its C(pid) result),
        so that a worker that ends without settling the run is reported at once, with its own
        message, when the watch runs on that host.
    type: int
  host:
    description: Name of that worker in the run (C(inventory_hostname)), to find its record and log.
    type: str
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
    description: With O(report), the transfer tool binary on this host when it is not on PATH.
    type: path
  rclone_config:
    description: With O(report), the rclone config file on this host when not the run's.
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
    description: Must match the workers' lease; a worker silent for twice this is not alive.
    type: float
    default: 120
  startup_grace:
    description: Seconds to wait for the first workers to report before declaring none alive.
    type: float
    default: 120
  lock_nonce:
    description: The nonce of this play's controller lock (M(datamover.fleet.run_lock)); the
      watch touches the lock (its heartbeat) while it runs, so that another controller sees
      this one alive.
    type: str
"""

EXAMPLES = r"""
- name: Watch | progress until every partition is settled
  datamover.fleet.watch:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    interval: 30
  run_once: true
"""

RETURN = r"""
status:
  description: The last M(datamover.fleet.run_status) result.
  returned: always
  type: dict
seconds:
  description: How long the watch ran.
  returned: always
  type: float
worker_problems:
  description: One line per worker that crashed or went silent (a lost host).
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

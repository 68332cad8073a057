#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: run_status
short_description: Read a run's progress from its run directory
version_added: "0.1.0"
description:
  - Counts partitions per state and sums what the workers report. Cheap enough to poll.
  - M(datamover.fleet.watch) calls it in a loop; it can also be used on its own.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  lease_seconds:
    description: A worker whose record is older than twice this is reported as not alive.
    type: float
    default: 120
"""

EXAMPLES = r"""
- name: Show where run ckpt-2026-11 stands
  datamover.fleet.run_status:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
  run_once: true
  register: st
"""

RETURN = r"""
exists:
  description: Whether the run directory holds a run (C(run.json)); when false, only C(run_id),
    C(run_dir) and C(time) are returned.
  returned: always
  type: bool
parts:
  description: Partitions per state (todo, claimed, done, failed) and total.
  returned: when the run exists
  type: dict
plan_complete:
  description: Whether the crawl has finished.
  returned: when the run exists
  type: bool
complete:
  description: Whether every partition is done or failed.
  returned: when the run exists
  type: bool
files_done:
  description: Files in settled partitions plus those the running partitions have moved so far
    (each worker's C(progress/<host>.json), at most a second old).
  returned: when the run exists
  type: int
bytes_done:
  description: Bytes in settled partitions plus those the running partitions have moved so far.
  returned: when the run exists
  type: int
inflight:
  description: Each running partition of a live worker (part, host, files, bytes, files_total,
    bytes_total).
  returned: when the run exists
  type: list
  elements: dict
final:
  description: Whether no worker is running any more, so that the totals are final.
  returned: when the run exists
  type: bool
workers:
  description: Each worker's record (host, status, totals, age in seconds, alive).
  returned: when the run exists
  type: list
  elements: dict
tool:
  description: The run's transfer tool.
  returned: when the run exists
  type: str
run:
  description: The run's C(run.json) - what it moves and how (source, destination with
    credentials redacted, tool, options), which a resume takes again.
  returned: when the run exists
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import LEASE_ARG, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import read_status


def _status(p):
    return read_status(RunDir(p["shared_dir"], p["run_id"]), p["lease_seconds"])


def main():
    module = AnsibleModule(argument_spec=run_args(**LEASE_ARG), supports_check_mode=True)
    module.exit_json(changed=False, **guarded(module, _status, module.params))


if __name__ == "__main__":
    main()

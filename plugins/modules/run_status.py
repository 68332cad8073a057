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
parts:
  description: Partitions per state (todo, claimed, done, failed) and total.
  returned: always
  type: dict
plan_complete:
  description: Whether the crawl has finished.
  returned: always
  type: bool
complete:
  description: Whether every partition is done or failed.
  returned: always
  type: bool
files_done:
  description: Files moved by the current workers.
  returned: always
  type: int
bytes_done:
  description: Bytes moved by the current workers.
  returned: always
  type: int
workers:
  description: Each worker's record (host, status, totals, age in seconds, alive).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.rundir import RunDir, RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.status import snapshot


def main():
    module = AnsibleModule(argument_spec=run_args(lease_seconds=dict(type="float", default=120.0)),
                           supports_check_mode=True)
    try:
        rundir = RunDir(module.params["shared_dir"], module.params["run_id"])
        rundir.load()
        result = snapshot(rundir, module.params["lease_seconds"])
    except RunDirError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

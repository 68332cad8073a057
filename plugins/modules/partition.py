#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: partition
short_description: Crawl a source tree and cut it into partitions in a run directory
version_added: "0.1.0"
description:
  - Creates the run directory C(<shared_dir>/<run_id>) (or checks that an existing one moves the
    same source to the same destination with the same tool), crawls O(plan.source) and writes
    partitions limited by O(plan.partition_files) entries and O(plan.partition_bytes) bytes.
  - Partitions are published while the crawl runs (live mode), so workers started beside this
    module (async) begin moving data before the crawl ends.
  - Output is deterministic for the same tree. The C(native) engine streams with bounded memory;
    the C(fpart) engine drives the fpart binary.
  - On an existing run, partitions that had failed are queued again, and a finished plan is
    not crawled again.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.plan
options:
  plan:
    required: true
"""

EXAMPLES = r"""
- name: Plan | cut the source into partitions (async, workers start meanwhile)
  datamover.fleet.partition:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    plan:
      source: /lst/ml-checkpoints
      destination: oci:rclone-3
      tool: rclone
      partition_files: 5000
  async: 86400
  poll: 0
  run_once: true
"""

RETURN = r"""
run_dir:
  description: The run directory.
  returned: always
  type: str
created:
  description: Whether this call created the run (false when resuming).
  returned: always
  type: bool
plan:
  description:
    - Totals of the plan (parts, files, bytes, seconds, crawl_errors, engine).
    - For an incremental run (O(plan.since)), C(incremental) holds what the comparison found
      (new, changed, unchanged, deleted, with samples, renamed_dir_samples) and C(mirror),
      what a mirror deleted or would delete.
  returned: always
  type: dict
requeued_failed:
  description: Partitions that had failed in an earlier attempt and were queued again.
  returned: always
  type: list
  elements: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_ARG, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded, hide_in_module
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def main():
    module = AnsibleModule(
        argument_spec=run_args(plan=dict(PLAN_ARG["plan"], required=True)),
        supports_check_mode=False,
    )
    p = module.params
    plan = p["plan"]
    hide_in_module(module, plan["tool"], plan["destination"], plan["tool_options"])
    result = guarded(module, lambda: make_plan(RunDir(p["shared_dir"], p["run_id"]), p["plan"]))
    module.exit_json(changed=result["created"] or bool(result["published"]), **result)


if __name__ == "__main__":
    main()

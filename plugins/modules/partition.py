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
    module begin moving data before the crawl ends.
  - With O(detach=true) (what the migrate role does for C(datamover_executor=kubernetes)) the
    module creates or resumes the run itself (a plan the run cannot take fails the task with
    its message), then crawls in a detached process (its own session, parameters on its
    stdin, never its arguments) and returns at once with its pid. Whatever ends that process
    before the plan is written (an error, O(timeout), a signal, C(kill -9)) is recorded in the
    run directory's C(plan.failed), which fails the watch with the planner's message; its
    output, when it has any, is kept in the run's C(logs/plan.log).
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
  detach:
    description:
      - Crawl in a detached process and return at once with its pid, instead of crawling in
        the module. Cheaper than C(async) by a temp directory, a wrapper process and a result
        file in C(~/.ansible_async).
    type: bool
    default: false
  timeout:
    description: With O(detach), the detached planner stops after this many seconds (its plan failed, said in C(plan.failed)); 0 means never.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Plan | cut the source into partitions (detached, workers start meanwhile)
  datamover.fleet.partition:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    plan:
      source: /lst/ml-checkpoints
      destination: oci:rclone-3
      tool: rclone
      partition_files: 5000
    detach: true
    timeout: 86400
  run_once: true
  register: datamover_plan
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
  returned: when O(detach=false)
  type: dict
pid:
  description: Process id of the detached planner on this host.
  returned: when O(detach=true)
  type: int
requeued_failed:
  description: Partitions that had failed in an earlier attempt and were queued again.
  returned: always
  type: list
  elements: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_ARG, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded, hide_in_module
from ansible_collections.datamover.fleet.plugins.module_utils.plan.background import start
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def _plan(p):
    rundir = RunDir(p["shared_dir"], p["run_id"])
    if p["detach"]:
        return dict(start(rundir, p["plan"], timeout=p["timeout"]), changed=True)
    result = make_plan(rundir, p["plan"])
    return dict(result, changed=result["created"] or bool(result["published"]))


def main():
    module = AnsibleModule(
        argument_spec=run_args(plan=dict(PLAN_ARG["plan"], required=True),
                               detach=dict(type="bool", default=False),
                               timeout=dict(type="float", default=0.0)),
        supports_check_mode=False,
    )
    plan = module.params["plan"]
    hide_in_module(module, plan["tool"], plan["destination"], plan["tool_options"])
    module.exit_json(**guarded(module, _plan, module.params))


if __name__ == "__main__":
    main()

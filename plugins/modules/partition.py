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
    same source to the same destination with the same tool), crawls O(source) and writes
    partitions limited by O(partition_files) entries and O(partition_bytes) bytes.
  - Partitions are published while the crawl runs (live mode), so workers started beside this
    module (async) begin moving data before the crawl ends.
  - Output is deterministic for the same tree. The C(native) engine streams with bounded memory;
    the C(fpart) engine drives the fpart binary.
  - On an existing run, partitions that had failed are queued again, and a finished plan is
    not crawled again.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  source:
    description: Absolute path of the directory whose contents are moved.
    type: path
    required: true
  destination:
    description: rclone C(remote:bucket[/prefix]) or, for rsync, an absolute path.
    type: str
    required: true
  tool:
    description: Transfer tool.
    type: str
    choices: [rclone, rsync]
    required: true
  engine:
    description: Crawler. C(fpart) needs the fpart binary on the host.
    type: str
    choices: [native, fpart]
    default: native
  partition_files:
    description: Most entries in one partition.
    type: int
    default: 2000
  partition_bytes:
    description: Most bytes in one partition (a larger single file gets a partition of its own).
    type: int
    default: 10737418240
  excludes:
    description:
      - fnmatch patterns. Without C(/) a pattern matches a name at any depth; with C(/) the path
        relative to the source. A trailing C(/) matches directories only.
    type: list
    elements: str
    default: []
  tool_options:
    description: Extra arguments for the transfer tool, one list item per argument.
    type: list
    elements: str
    default: []
  rclone_config:
    description: Path of the rclone config file on the workers.
    type: path
  verify:
    description:
      - C(size) compares names and sizes (and mtimes for rsync); C(checksum) also content;
        C(none) skips verification.
    type: str
    choices: [size, checksum, none]
    default: size
  symlinks:
    description:
      - What rclone does with symlinks. C(links) stores them as C(.rclonelink) objects (restored
        by C(rclone copy --links)); C(skip) leaves them out and reports them. rsync always keeps them.
    type: str
    choices: [links, skip]
    default: links
  threads:
    description: Threads that list directories ahead of the crawl (native engine).
    type: int
    default: 8
"""

EXAMPLES = r"""
- name: Plan | cut the source into partitions (async, workers start meanwhile)
  datamover.fleet.partition:
    source: /lst/ml-checkpoints
    destination: oci:rclone-3
    tool: rclone
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
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
  description: Totals of the plan (parts, files, bytes, seconds, crawl_errors, engine).
  returned: always
  type: dict
requeued_failed:
  description: Partitions that had failed in an earlier attempt and were queued again.
  returned: always
  type: list
  elements: int
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_ARGS, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.planning import PlanError, make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.rundir import RunDir, RunDirError


def main():
    module = AnsibleModule(
        argument_spec=run_args(**PLAN_ARGS),
        supports_check_mode=False,
    )
    p = module.params
    try:
        rundir = RunDir(p["shared_dir"], p["run_id"])
        result = make_plan(rundir, p)
    except (RunDirError, PlanError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # the run directory records it so workers stop waiting
        module.fail_json(msg="planning failed: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=result["created"] or bool(result["published"]), **result)


if __name__ == "__main__":
    main()

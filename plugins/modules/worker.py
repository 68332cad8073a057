#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: worker
short_description: Run a host's transfer slots until a run's partitions are all settled
version_added: "0.1.0"
description:
  - Meant to run once per host with C(async) and C(poll=0). Runs O(slots) transfer slots that
    claim partitions from the run directory (atomic rename, with a lease kept fresh), run rclone
    or rsync on them, verify the destination, retry with backoff and record results and logs.
  - Returns when every partition of a complete plan is done or failed, or when a C(STOP) file is
    created in the run directory. Stale leases of dead workers are taken over.
  - What to move and how is read from the run directory's C(run.json), written by
    M(datamover.fleet.partition).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  plan:
    description:
      - The options of M(datamover.fleet.partition) (C(source), C(destination), C(tool) are
        required; C(engine), C(partition_files), C(partition_bytes), C(excludes), C(tool_options),
        C(rclone_config), C(verify), C(symlinks), C(threads) as there).
      - Given on one host (the first of the play), that worker creates or resumes the run and
        crawls the source in a thread while its slots already move the first partitions. The
        other workers wait up to O(run_wait) seconds for the run to appear.
    type: dict
  canary:
    description: Nonce of the preflight canary in O(shared_dir), removed by the planning worker.
    type: str
  run_wait:
    description: Seconds to wait for the run directory's C(run.json) to appear.
    type: float
    default: 120
  host:
    description: Name of this worker in the run (defaults to the host name). Use C(inventory_hostname).
    type: str
  slots:
    description: Concurrent transfers on this host.
    type: int
    default: 2
  retries:
    description: Further attempts for a partition whose transfer or verification failed.
    type: int
    default: 3
  backoff:
    description: Seconds before the first retry; doubled at each retry up to O(backoff_max).
    type: float
    default: 5
  backoff_max:
    description: Longest wait between two attempts, in seconds.
    type: float
    default: 120
  lease_seconds:
    description: A claim not refreshed for this long is considered abandoned and taken over.
    type: float
    default: 120
  poll:
    description: Seconds between two looks at the queue when there is nothing to claim.
    type: float
    default: 0.5
  rclone_config:
    description: rclone config file on this host (overrides the one recorded in the run).
    type: path
  tool_path:
    description: Path of the transfer tool binary, when it is not on PATH.
    type: path
"""

EXAMPLES = r"""
- name: Dispatch | start the worker on every host
  datamover.fleet.worker:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    host: "{{ inventory_hostname }}"
    slots: 4
  async: 604800
  poll: 0
  register: datamover_worker_job
"""

RETURN = r"""
plan:
  description: Totals of the plan (parts, files, bytes, seconds, crawl_errors, engine).
  returned: when O(plan) is given
  type: dict
host:
  description: Worker name.
  returned: always
  type: str
parts_done:
  description: Partitions this worker moved and verified.
  returned: always
  type: int
parts_failed:
  description: Partitions this worker gave up on.
  returned: always
  type: int
files:
  description: Files moved by this worker.
  returned: always
  type: int
bytes:
  description: Bytes moved by this worker.
  returned: always
  type: int
counts:
  description: Partitions per state when the worker exited.
  returned: always
  type: dict
stopped:
  description: Whether the worker exited because a STOP file was found.
  returned: always
  type: bool
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_ARGS, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.planning import PlanError
from ansible_collections.datamover.fleet.plugins.module_utils.preflight import remove_canary
from ansible_collections.datamover.fleet.plugins.module_utils.rundir import RunDir, RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.worker import Worker, plan_and_work


def main():
    module = AnsibleModule(
        argument_spec=run_args(
            host=dict(type="str"),
            slots=dict(type="int", default=2),
            retries=dict(type="int", default=3),
            backoff=dict(type="float", default=5.0),
            backoff_max=dict(type="float", default=120.0),
            lease_seconds=dict(type="float", default=120.0),
            poll=dict(type="float", default=0.5),
            rclone_config=dict(type="path"),
            tool_path=dict(type="path"),
            plan=dict(type="dict"),
            canary=dict(type="str"),
            run_wait=dict(type="float", default=120.0),
        ),
        supports_check_mode=False,
    )
    p = module.params
    kwargs = dict(slots=p["slots"], retries=p["retries"], backoff=p["backoff"],
                  backoff_max=p["backoff_max"], lease_seconds=p["lease_seconds"], poll=p["poll"],
                  binary=p["tool_path"], rclone_config=p["rclone_config"], run_wait=p["run_wait"])
    try:
        rundir = RunDir(p["shared_dir"], p["run_id"])
        if p["plan"] is not None:
            checked = ArgumentSpecValidator(PLAN_ARGS).validate(p["plan"])
            if checked.error_messages:
                module.fail_json(msg="plan: " + "; ".join(checked.error_messages))
            if p["canary"]:
                remove_canary(p["shared_dir"], p["canary"])
            result = plan_and_work(rundir, p["host"], checked.validated_parameters, **kwargs)
        else:
            result = Worker(rundir, p["host"], **kwargs).run()
    except (RunDirError, ToolError, PlanError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:
        module.fail_json(msg="worker failed: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=result["parts_done"] > 0, **result)


if __name__ == "__main__":
    main()

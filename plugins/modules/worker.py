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
  - Runs once per host. Runs O(slots) transfer slots that claim partitions from the run
    directory (atomic rename, with a lease kept fresh), run rclone or rsync on them, verify the
    destination, retry with backoff and record results and logs.
  - With O(detach=true) (what the migrate role does) the module starts the loop as a detached
    process and returns at once with its pid; the planning host creates the run first, so an
    unusable plan fails the task. Without it, run the module with C(async) and C(poll=0).
  - Returns when every partition of a complete plan is done or failed, or when a C(STOP) file is
    created in the run directory. Stale leases of dead workers are taken over.
  - What to move and how is read from the run directory's C(run.json), written by
    M(datamover.fleet.partition).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
  - datamover.fleet.plan
options:
  plan:
    description:
      - Given on one host (the first of the play), that worker creates or resumes the run and
        crawls the source in a thread while its slots already move the first partitions. The
        other workers wait up to O(run_wait) seconds for the run to appear.
  canary:
    description: Nonce of the preflight canary in O(shared_dir), removed by the planning worker (see M(datamover.fleet.preflight)).
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
  max_requests_per_second:
    description:
      - Requests a second that O(budget_shares) workers together may send to the object store
        (the fleet's C(datamover_max_requests_per_second)); 0 means no limit. This host takes
        one equal share and splits it evenly over every tool process it may run at once,
        O(slots) x 2 (each slot's transfer, and the verification or retry of its previous
        batch), each capped with rclone's C(--tpslimit).
      - Ignored by rsync, which sends no requests (preflight refuses a budget with rsync).
    type: float
    default: 0
  budget_shares:
    description: How many workers share O(max_requests_per_second) equally (the migrate role gives the number of hosts of the play).
    type: int
    default: 1
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
  batch:
    description:
      - Most partitions a slot moves in one tool process while the queue is deep (each still
        claimed, verified, retried and reported on its own). A tool process costs a start-up
        and a pipeline that fills and drains, which small-file partitions feel. Batches stop
        growing well before the queue runs low, so the end of a run is spread over every slot.
        1 turns batching off.
    type: int
    default: 8
  detach:
    description:
      - Start the worker loop as a detached process (its own session, parameters on its stdin)
        and return at once, instead of running it in the module. Cheaper than C(async) by an
        extra Python process and a temp directory per host. Its output is kept in the run's
        C(logs/worker-<host>.log) when it has any.
    type: bool
    default: false
  timeout:
    description: With O(detach), the detached worker stops itself (giving its partitions back) after this many seconds; 0 means never.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Dispatch | start the worker on every host
  datamover.fleet.worker:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    host: "{{ inventory_hostname }}"
    slots: 4
    detach: true
    timeout: 604800
  register: datamover_worker_job

- name: The same as an async job
  datamover.fleet.worker:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    host: "{{ inventory_hostname }}"
  async: 604800
  poll: 0
"""

RETURN = r"""
pid:
  description: Process id of the detached worker on this host.
  returned: when O(detach=true)
  type: int
created:
  description: Whether this execution created the run (false when it resumed it).
  returned: when O(plan) is given
  type: bool
plan:
  description:
    - Totals of the plan (parts, files, bytes, seconds, crawl_errors, engine).
    - For an incremental run (O(plan.since)), C(incremental) holds what the comparison found
      (new, changed, unchanged, deleted, with samples, renamed_dir_samples) and C(mirror),
      what a mirror deleted or would delete.
  returned: when O(plan) is given and O(detach=false)
  type: dict
host:
  description: Worker name.
  returned: always
  type: str
parts_done:
  description: Partitions this worker moved and verified.
  returned: when O(detach=false)
  type: int
parts_failed:
  description: Partitions this worker gave up on.
  returned: when O(detach=false)
  type: int
files:
  description: Files moved by this worker.
  returned: when O(detach=false)
  type: int
bytes:
  description: Bytes moved by this worker.
  returned: when O(detach=false)
  type: int
counts:
  description: Partitions per state when the worker exited.
  returned: when O(detach=false)
  type: dict
stopped:
  description: Whether the worker exited because a STOP file was found.
  returned: when O(detach=false)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_ARG, run_args
from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import run_worker, spawn
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded, hide_in_module
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir, remove_canary
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import open_run
from ansible_collections.datamover.fleet.plugins.module_utils.work import settings


def _work(p):
    p = dict(p, max_requests_per_second=settings.budget_share(p["max_requests_per_second"],
                                                              p["budget_shares"]))
    rundir = RunDir(p["shared_dir"], p["run_id"])
    if p["plan"] is not None and p["canary"]:
        remove_canary(p["shared_dir"], p["canary"])
    if not p["detach"]:
        return run_worker(rundir, p)
    result = {"host": p["host"]}
    params = dict(p)
    if p["plan"] is not None:
        # In the foreground: a plan the run cannot take fails this task with its message.
        params["opened"] = opened = open_run(rundir, p["plan"], binary=p["tool_path"])
        result.update(created=opened[1], requeued_failed=opened[2])
    result["pid"] = spawn(params)[0]
    return result


# AnsibleModule's arguments: the module's, and the in-process run's (action/worker.py).
SPEC = dict(
    argument_spec=run_args(
        host=dict(type="str"),
        budget_shares=dict(type="int", default=1),
        canary=dict(type="str"),
        detach=dict(type="bool", default=False),
        timeout=dict(type="float", default=0.0),
        **dict(settings.argument_spec(), **PLAN_ARG)
    ),
    supports_check_mode=False,
)


def execute(module):
    """The module's result (``module``: its params and no_log_values)."""
    plan = module.params["plan"]
    if plan:  # credentials in the plan never reach the result (nor Ansible's async files)
        hide_in_module(module, plan["tool"], plan["destination"], plan["tool_options"])
    result = _work(module.params)
    return dict(result, changed=bool(module.params["detach"] or result["parts_done"] > 0))


def main():
    module = AnsibleModule(**SPEC)
    module.exit_json(**guarded(module, execute, module))


if __name__ == "__main__":
    main()

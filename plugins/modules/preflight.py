#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Check a worker before a migration starts
version_added: "0.1.0"
description:
  - O(stage=prepare) (run once) writes a canary file with a random nonce in the shared
    directory and checks that an existing O(run_id) moves the same source to the same
    destination with the same tool.
  - O(stage=check) (every worker) checks the limits, that an existing O(run_id) moves the same
    thing, the source (exists, is a directory, readable), the shared directory (writable, and
    the same directory everywhere. With O(hosts), every worker writes its own canary and waits
    to see all the others', so one task proves it; without, the canary of O(stage=prepare) must be visible),
    the tool (installed and new enough), the rclone remote (configured) and the destination
    (a probe object or file is written and removed). All problems of a host are reported
    together, each saying what to fix.
  - O(stage=cleanup) removes the canary.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  stage:
    description: Which step to run.
    type: str
    choices: [prepare, check, cleanup]
    default: check
  nonce:
    description:
      - The canary nonce, returned by O(stage=prepare) or chosen by the play (any string of
        letters and digits, the same on every worker).
    type: str
  hosts:
    description:
      - Every worker of the run (C(ansible_play_hosts)). With O(host), O(stage=check) writes this
        worker's canary and waits up to O(rendezvous_timeout) seconds to see the others'.
    type: list
    elements: str
  host:
    description: This worker's name in O(hosts) (C(inventory_hostname)).
    type: str
  rendezvous_timeout:
    description: Seconds to wait for the other workers' canaries.
    type: float
    default: 30
  source:
    description: Absolute path of the source directory.
    type: path
  destination:
    description: rclone C(remote:bucket[/prefix]) or, for rsync, an absolute path.
    type: str
  tool:
    description: Transfer tool.
    type: str
    choices: [rclone, rsync]
  tool_path:
    description: Path of the tool binary when it is not on PATH.
    type: path
  rclone_config:
    description: rclone config file on this host.
    type: path
  slots:
    description: Concurrent transfers per host (checked to be positive).
    type: int
  partition_files:
    description: Entries per partition (checked to be positive).
    type: int
  partition_bytes:
    description: Bytes per partition (checked to be positive).
    type: int
  engine:
    description: Crawler engine; C(fpart) needs the fpart binary on the planning host.
    type: str
    choices: [native, fpart]
    default: native
  probe:
    description: Write and remove a probe file/object at the destination.
    type: bool
    default: true
  audit:
    description:
      - The run is an audit (C(datamover_audit)); a run id of a migration is refused for it, and
        the reverse.
    type: bool
    default: false
  plan_only:
    description:
      - The run is a plan-only pass (C(datamover_plan_only)); a run id of another kind of pass
        is refused for it, and the reverse; refused together with O(audit).
    type: bool
    default: false
  estimate:
    description:
      - The plan-only estimate's prices and rates (C(datamover_prices),
        C(datamover_plan_bytes_per_second), C(datamover_plan_files_per_second)); an unknown
        price or a value that is not a number of 0 or more is refused.
    type: dict
    default: {}
  tool_options:
    description:
      - The run's C(datamover_tool_options), checked against the tool's policy. Options that
        delete or move anything, write outside the destination, change what is compared or
        copied, or make a dry run are refused (docs/safety.md).
    type: list
    elements: str
    default: []
  since:
    description:
      - The run's C(datamover_since); a new run refuses one that is not an earlier run of the
        same migration (same source, destination and tool, with a complete plan).
    type: str
  excludes:
    description:
      - The run's C(datamover_excludes); a pattern that matches every name is refused (nothing
        would be moved).
    type: list
    elements: str
    default: []
  tunables:
    description:
      - The job's numeric tunables by name without the C(datamover_) prefix (C(slots),
        C(lease_seconds), C(timeout)...), each checked against its range.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Preflight | canary and run identity
  datamover.fleet.preflight:
    stage: prepare
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    source: /lst/ml-checkpoints
    destination: oci:rclone-3
    tool: rclone
  run_once: true
  register: canary

- name: Preflight | every worker, in one round trip (each writes a canary and sees the others')
  datamover.fleet.preflight:
    stage: check
    nonce: "{{ my_random_nonce }}"
    hosts: "{{ ansible_play_hosts }}"
    host: "{{ inventory_hostname }}"
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    source: /lst/ml-checkpoints
    destination: oci:rclone-3
    tool: rclone
"""

RETURN = r"""
nonce:
  description: The canary nonce (made by O(stage=prepare), as given for O(stage=check)).
  returned: when stage is prepare or check
  type: str
run_id:
  description: The run id (as given).
  returned: when stage is prepare or check
  type: str
started:
  description: Epoch seconds on the first worker when the run (this execution) started.
  returned: when stage is prepare
  type: float
resume:
  description: Whether O(run_id) names an existing run that this one resumes.
  returned: when stage is prepare
  type: bool
tool_binary:
  description: The tool binary found on this host.
  returned: when stage is check
  type: str
problems:
  description: Everything that is wrong on this host (empty when the host is ready).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.plan import preflight as pf
from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError, RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded, hide_in_module
from ansible_collections.datamover.fleet.plugins.module_utils.plan.incremental import since_problems
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import (
    resolved_store,
    run_meta,
    store_problems,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    RunDir,
    remove_canary,
    write_canary,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS


def _refusals(p):
    """What is refused whatever the host: limits, tunables, tool options, overlapping paths."""
    # slots and partition sizes are options of their own too: checked once, by their range
    # when the play gives every tunable
    limits = {k: p[k] for k in ("slots", "partition_files", "partition_bytes")
              if k not in p["tunables"]}
    return (pf.check_limits(limits) + pf.check_tunables(p["tunables"])
            + pf.check_tool_options(p["tool"], p["tool_options"])
            + pf.check_request_budget(p["tool"], p["tunables"], p["tool_options"])
            + pf.check_overlaps(p["source"], p["destination"], p["tool"], p["shared_dir"])
            + pf.check_excludes(p["excludes"])
            + pf.check_pass(p["plan_only"], p["audit"], p["estimate"]))


def _prepare(p):
    """Returns (problems, result)."""
    problems = _refusals(p)
    resume = False
    try:
        rundir = RunDir(p["shared_dir"], p["run_id"])
        resume = rundir.exists()
        problems += rundir.identity_problems(run_meta(p))
        if not problems and not resume:
            problems += since_problems(rundir, run_meta(p))
    except RunDirError as exc:
        problems.append(str(exc))
    if problems:
        return problems, None
    try:
        nonce = write_canary(p["shared_dir"])
    except OSError as exc:
        return ["cannot write in shared dir %s (%s): it must exist (or be creatable) and be "
                "writable on every worker" % (p["shared_dir"], exc.strerror)], None
    return [], dict(changed=True, nonce=nonce, resume=resume, run_id=p["run_id"],
                    started=time.time())


def _check(p):
    """Returns (problems, result). Everything that only reads comes first: a host with any
    problem writes nothing (no shared dir, canary or probe), and every problem of the host is
    reported together."""
    problems = _refusals(p)
    try:
        rundir = RunDir(p["shared_dir"], p["run_id"])
        problems += rundir.identity_problems(run_meta(p))
        if not problems and not rundir.exists():
            problems += since_problems(rundir, run_meta(p))
    except RunDirError as exc:
        problems.append(str(exc))
    problems += pf.check_source(p["source"])
    tool_problems, binary = pf.check_tool(p["tool"], p["tool_path"])
    problems += tool_problems
    if p["engine"] == "fpart":
        try:
            pf.find_binary("fpart")
        except pf.ToolError as exc:
            problems.append("datamover_partition_engine=fpart: %s" % exc)
    if p["hosts"] and p["host"] and not p["nonce"]:
        problems.append("preflight: hosts needs a nonce (the same on every worker)")
    if binary and not problems:
        problems += pf.check_destination(p["tool"], p["destination"], binary,
                                         p["rclone_config"], probe=False,
                                         options=p["tool_options"])
    if binary and not problems:  # a resume: this host's config must reach the run's store
        rundir, meta = RunDir(p["shared_dir"], p["run_id"]), run_meta(p)
        problems += store_problems(rundir, meta, resolved_store(meta, binary, p["rclone_config"]))
    if problems:  # a refused host writes nothing; the others see no canary and stop too
        return problems, None
    if p["hosts"] and p["host"]:
        problems += pf.make_shared(p["shared_dir"])
        problems += pf.check_shared(p["shared_dir"])
        if not problems:
            problems += pf.rendezvous(p["shared_dir"], p["nonce"], p["host"], p["hosts"],
                                      timeout=p["rendezvous_timeout"])
    else:
        problems += pf.check_shared(p["shared_dir"], p["nonce"])
    if not problems and p["probe"]:
        problems += pf.check_destination(p["tool"], p["destination"], binary,
                                         p["rclone_config"], probe="only" if binary else True)
    return problems, dict(changed=False, tool_binary=binary, run_id=p["run_id"],
                          nonce=p["nonce"])


# AnsibleModule's arguments: the module's, and the in-process run's (action/preflight.py).
SPEC = dict(
    argument_spec=run_args(
        stage=dict(type="str", default="check", choices=["prepare", "check", "cleanup"]),
        nonce=dict(type="str"),
        hosts=dict(type="list", elements="str"),
        host=dict(type="str"),
        rendezvous_timeout=dict(type="float", default=30.0),
        source=dict(type="path"),
        destination=dict(type="str"),
        tool=dict(type="str", choices=sorted(TOOLS)),
        tool_path=dict(type="path"),
        rclone_config=dict(type="path"),
        slots=dict(type="int"),
        partition_files=dict(type="int"),
        partition_bytes=dict(type="int"),
        engine=dict(type="str", default="native", choices=["native", "fpart"]),
        probe=dict(type="bool", default=True),
        audit=dict(type="bool", default=False),
        plan_only=dict(type="bool", default=False),
        estimate=dict(type="dict", default={}),
        tool_options=dict(type="list", elements="str", default=[]),
        tunables=dict(type="dict", default={}),
        excludes=dict(type="list", elements="str", default=[]),
        since=dict(type="str"),
    ),
    required_if=[("stage", "prepare", ("source", "destination", "tool")),
                 ("stage", "check", ("source", "destination", "tool"))],
    supports_check_mode=True,
)


def execute(module):
    """The module's result (``module``: its params, no_log_values and check_mode)."""
    p = module.params
    if p["stage"] == "cleanup":
        removed = bool(p["nonce"]) and not module.check_mode and remove_canary(
            p["shared_dir"], p["nonce"])
        return dict(changed=removed, problems=[])
    p["destination"], p["tool_options"] = hide_in_module(
        module, p["tool"], p["destination"], p["tool_options"])
    return dict(problems=[], **_verdict(p))


def main():
    module = AnsibleModule(**SPEC)
    module.exit_json(**guarded(module, execute, module))


def _verdict(p):
    """The stage's result, or one error that lists every problem of this host."""
    problems, result = (_prepare if p["stage"] == "prepare" else _check)(p)
    if problems:
        prefix = "preflight failed on this host: " if p["stage"] == "check" else ""
        raise DatamoverError(prefix + " | ".join(problems), problems=problems)
    return result


if __name__ == "__main__":
    main()

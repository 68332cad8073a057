#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: run_stop
short_description: Ask every worker of a run to stop after its current partitions
version_added: "0.4.0"
description:
  - Leaves a C(STOP) request in the run directory. Every worker finishes (or gives back) the
    partitions it holds and exits; the watch ends and the report says the run was stopped.
  - Running the play again with the same run id resumes the run and clears the request.
  - Fails, naming the run directory, when there is no such run.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  reason:
    description: Why the run is stopped; kept with the request and quoted by the report.
    type: str
    default: stop requested
"""

EXAMPLES = r"""
- name: Stop | ask the workers of ckpt-2026-11 to stop
  datamover.fleet.run_stop:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    reason: stopped from AWX by the on-call operator
  run_once: true
"""

RETURN = r"""
run_dir:
  description: The run directory.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def _stop(p, check_mode):
    rundir = RunDir(p["shared_dir"], p["run_id"])
    rundir.load()  # no such run: RunDirError names the directory
    if rundir.stop_requested():
        return dict(changed=False, run_dir=rundir.path)
    if not check_mode:
        rundir.request_stop(p["reason"])
    return dict(changed=True, run_dir=rundir.path)


def main():
    module = AnsibleModule(argument_spec=run_args(reason=dict(type="str",
                                                              default="stop requested")),
                           supports_check_mode=True)
    module.exit_json(**guarded(module, _stop, module.params, module.check_mode))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_release
short_description: Tell a run's guard that the play has cleaned up, and remove the canary
version_added: "0.1.0"
description:
  - Writes the run's guard release marker so that M(datamover.fleet.k8s_guard) exits without deleting anything (the play's
    C(always) section has deleted the objects itself, or keeps them for debugging).
  - Removes the preflight canary of O(nonce) from the shared directory.
  - Removes the run's credentials file (C(private/secrets.json), credentials taken out of the
    destination or tool options), so that they do not outlive the run on the shared file system.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  nonce:
    description: Canary nonce from M(datamover.fleet.preflight) C(stage=prepare).
    type: str
"""

EXAMPLES = r"""
- name: Kubernetes | release the guard
  datamover.fleet.k8s_release:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
"""

RETURN = r"""
released:
  description: Whether the marker was written.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import Guard
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir, remove_canary


def main():
    module = AnsibleModule(argument_spec=run_args(nonce=dict(type="str", no_log=False)),
                           supports_check_mode=False)
    p = module.params
    Guard(RunDir(p["shared_dir"], p["run_id"])).release()
    if p["nonce"]:
        remove_canary(p["shared_dir"], p["nonce"])
    # the run's end: credentials taken from the destination do not outlive it (the pods that
    # needed them are gone; a resume writes them again from the user's input)
    RunDir(p["shared_dir"], p["run_id"]).remove_secrets()
    module.exit_json(changed=True, released=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: run_cleanup
short_description: The end of a run - abort the multipart uploads it left at the destination
version_added: "0.4.0"
description:
  - Once every partition of a run is settled, aborts the unfinished multipart uploads the run
    left at the object store (a transfer killed mid-file - a lost host, a killed rclone - leaves
    one, billed and invisible to listings), and only those - initiated since the run started,
    named for a file of the plan, under its destination. Others are listed and left alone.
  - Records what it did in the run directory, where M(datamover.fleet.run_report) reads it
    (C(report.json)'s C(multipart_uploads)). A run that is not over is not touched; a tool
    without multipart uploads (rsync) has nothing to do. It never fails because of the
    destination - the files are verified either way - and says what it could not check.
  - M(datamover.fleet.watch) and M(datamover.fleet.k8s_watch) run it before the report.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  max_requests_per_second:
    description: Request budget of the clean-up at the object store (0 = no limit).
    type: float
    default: 0
  tool_path:
    description: Path of the transfer tool binary on this host, when it is not on PATH.
    type: path
  rclone_config:
    description: rclone config file on this host, when not the one recorded in the run.
    type: path
"""

EXAMPLES = r"""
- name: Cleanup | abort the multipart uploads the run left behind
  datamover.fleet.run_cleanup:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
    max_requests_per_second: 100
  run_once: true
"""

RETURN = r"""
multipart_uploads:
  description:
    - What was done, also kept in the run directory for the report - C(checked) (false with a
      C(reason) while the run is not over), C(aborted) and C(kept) (lists of uploads), C(error).
    - Null for a tool without multipart uploads.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.cleanup import abort_own_uploads


def _cleanup(p):
    return abort_own_uploads(RunDir(p["shared_dir"], p["run_id"]), p["max_requests_per_second"],
                             p["tool_path"], p["rclone_config"])


def main():
    module = AnsibleModule(argument_spec=run_args(max_requests_per_second=dict(type="float",
                                                                               default=0.0),
                                                  tool_path=dict(type="path"),
                                                  rclone_config=dict(type="path")),
                           supports_check_mode=False)
    record = guarded(module, _cleanup, module.params)
    aborted = bool(record and record.get("checked") and record.get("aborted"))
    module.exit_json(changed=aborted, multipart_uploads=record)


if __name__ == "__main__":
    main()

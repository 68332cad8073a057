#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: run_report
short_description: Write a run's report.json and report.md
version_added: "0.1.0"
description:
  - Aggregates every partition's result into C(report.json) (files, bytes, seconds, partitions,
    verification, per-worker totals, failed partitions with their logs), a human-readable
    C(report.md) and C(report.html) (self-contained, with charts) in the run directory.
  - Every source file that is not at the destination is named in C(not-copied.jsonl) in the run
    directory, one JSON record a line (path, reason, class, partition, attempt).
  - Does not fail on a failed run; the playbook decides from the C(status) in RV(report).
  - Reads the run directory and writes only the report files there; what the end-of-run
    clean-up at the destination did (M(datamover.fleet.run_cleanup)) is read from its record.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.run
options:
  started:
    description: Epoch seconds when this execution of the run started (for C(seconds)).
    type: float
"""

EXAMPLES = r"""
- name: Report | write report.json
  datamover.fleet.run_report:
    shared_dir: /lst/datamover
    run_id: ckpt-2026-11
  run_once: true
  register: datamover_report
"""

RETURN = r"""
report:
  description: The content of report.json.
  returned: always
  type: dict
report_json:
  description: Path of report.json.
  returned: always
  type: str
report_md:
  description: Path of report.md.
  returned: always
  type: str
report_html:
  description: Path of report.html, one self-contained page with charts of throughput and
    cumulative bytes for the run and each worker, the failures and the settings.
  returned: always
  type: str
summary:
  description: A few lines for people.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import run_args
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import guarded
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def _report(p):
    return make_report(RunDir(p["shared_dir"], p["run_id"]), started=p["started"])


def main():
    module = AnsibleModule(argument_spec=run_args(started=dict(type="float")),
                           supports_check_mode=False)
    module.exit_json(changed=True, **guarded(module, _report, module.params))


if __name__ == "__main__":
    main()

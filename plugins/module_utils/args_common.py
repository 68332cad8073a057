# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules, documented once in doc_fragments/run.py and plan.py."""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS

RUN_ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
)

# The options of a plan, taken as the nested ``plan`` option by datamover.fleet.partition and
# datamover.fleet.worker (the first worker plans while it works).
PLAN_OPTIONS = dict(
    source=dict(type="path", required=True),
    destination=dict(type="str", required=True),
    tool=dict(type="str", required=True, choices=sorted(TOOLS)),
    engine=dict(type="str", default="native", choices=["native", "fpart"]),
    partition_files=dict(type="int", default=2000),
    partition_bytes=dict(type="int", default=10 * 1024 ** 3),
    excludes=dict(type="list", elements="str", default=[]),
    tool_options=dict(type="list", elements="str", default=[]),
    rclone_config=dict(type="path"),
    transfers=dict(type="int", default=8),
    verify=dict(type="str", default="size", choices=["size", "checksum", "none"]),
    symlinks=dict(type="str", default="links", choices=["links", "skip"]),
    threads=dict(type="int", default=8),
    since=dict(type="str"),
    mirror=dict(type="bool", default=False),
    max_delete=dict(type="int", default=100),
    max_delete_share=dict(type="float", default=0.05),
)

PLAN_ARG = dict(plan=dict(type="dict", options=PLAN_OPTIONS))


def run_args(**extra):
    spec = dict(RUN_ARGS)
    spec.update(extra)
    return spec


def plan_defaults(**given):
    """A complete plan from some options, with the spec's defaults (tests, scripts)."""
    plan = {k: v.get("default") for k, v in PLAN_OPTIONS.items()}
    plan.update(given)
    return plan

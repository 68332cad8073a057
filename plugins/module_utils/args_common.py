# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules (documented once in doc_fragments/run.py)."""
from __future__ import annotations

RUN_ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
)


# What a plan needs: the options of datamover.fleet.partition, also accepted as the ``plan``
# option of datamover.fleet.worker (the first worker plans while it works).
PLAN_ARGS = dict(
    source=dict(type="path", required=True),
    destination=dict(type="str", required=True),
    tool=dict(type="str", required=True, choices=["rclone", "rsync"]),
    engine=dict(type="str", default="native", choices=["native", "fpart"]),
    partition_files=dict(type="int", default=2000),
    partition_bytes=dict(type="int", default=10 * 1024 ** 3),
    excludes=dict(type="list", elements="str", default=[]),
    tool_options=dict(type="list", elements="str", default=[]),
    rclone_config=dict(type="path"),
    verify=dict(type="str", default="size", choices=["size", "checksum", "none"]),
    symlinks=dict(type="str", default="links", choices=["links", "skip"]),
    threads=dict(type="int", default=8),
)


def run_args(**extra):
    spec = dict(RUN_ARGS)
    spec.update(extra)
    return spec

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules (documented once in doc_fragments/run.py)."""
from __future__ import annotations

RUN_ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
)


def run_args(**extra):
    spec = dict(RUN_ARGS)
    spec.update(extra)
    return spec

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  shared_dir:
    description:
      - Directory on the shared file system that every worker mounts at the same path.
      - The run directory is C(<shared_dir>/<run_id>).
    type: path
    required: true
  run_id:
    description:
      - Name of the run. A new name starts a run; an existing one resumes it.
      - 1-128 letters, digits, C(.), C(_) or C(-).
    type: str
    required: true
"""

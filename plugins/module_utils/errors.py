# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's errors: each says what failed, for which path or host, and what to do.

Modules turn any DatamoverError into ``fail_json`` in one place (module_utils/ansible_glue),
so a user sees a sentence, not a traceback.
"""
from __future__ import annotations


class DatamoverError(Exception):
    """Base of every error a user can act on."""


class RunDirError(DatamoverError):
    """A problem with the run directory (missing, of another migration, bad run id)."""


class ToolError(DatamoverError):
    """A transfer tool problem (missing binary, too old, bad destination)."""


class PlanError(DatamoverError):
    """Planning could not cut the source into partitions."""

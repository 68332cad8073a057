# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's errors: each says what failed, for which path or host, and what to do.

Every error of ours derives from DatamoverError, whose ``details`` are the extra fields a
failed module returns beside ``msg``; ``module_glue.failure`` turns any of them into a
``fail_json`` result in one place, so a user sees a sentence, not a traceback.
"""
from __future__ import annotations


class DatamoverError(Exception):
    """Base of every error a user can act on; ``details`` go into the failed task's result."""

    def __init__(self, message, **details):
        super(DatamoverError, self).__init__(message)
        self.details = details


class RunDirError(DatamoverError):
    """A problem with the run directory (missing, of another migration, bad run id)."""


class ToolError(DatamoverError):
    """A transfer tool problem (missing binary, too old, bad destination)."""


class PlanError(DatamoverError):
    """Planning could not cut the source into partitions."""


class DependencyMissing(DatamoverError):
    """A Python library a module needs is not installed on the host that runs it."""

    def __init__(self, library, import_error):
        super(DependencyMissing, self).__init__("the Python library %s is not installed" % library,
                                                exception=import_error)
        self.library = library


def require_library(library, present, import_error):
    """Raise DependencyMissing unless ``present`` (a module's HAS_<LIB> flag)."""
    if not present:
        raise DependencyMissing(library, import_error)

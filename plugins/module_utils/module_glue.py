# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one face every module (and action plugin) shows when it fails, and what modules need
to keep credentials out of their results.

A DatamoverError already says what to do; an OSError names its path; anything else is a bug
and keeps its traceback (shown with -vvv) behind a one-line message.
"""
from __future__ import annotations

import os
import traceback
from contextlib import contextmanager

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.datamover.fleet.plugins.module_utils.errors import (
    DatamoverError,
    DependencyMissing,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS


def failure(exc):
    """The failure result (``msg``, the error's details, and for a bug its ``exception``)."""
    if isinstance(exc, DependencyMissing):
        return dict(exc.details, msg=missing_required_lib(exc.library))
    if isinstance(exc, DatamoverError):
        return dict(exc.details, msg=str(exc))
    if isinstance(exc, OSError):
        where = " (%s)" % exc.filename if getattr(exc, "filename", None) else ""
        return dict(msg="I/O error%s: %s" % (where, exc.strerror or exc))
    # a bug: say so, keep the traceback for -vvv
    return dict(msg="internal error: %s: %s" % (type(exc).__name__, exc),
                exception=traceback.format_exc())


@contextmanager
def module_guard(module, **extra):
    """Fail ``module`` with ``failure(exc)`` (plus ``extra`` result fields) on any error."""
    try:
        yield
    except Exception as exc:  # a bug included: failure() keeps its traceback
        module.fail_json(**dict(extra, **failure(exc)))


def guarded(module, func, *args, **kwargs):
    """Call ``func`` under ``module_guard``."""
    with module_guard(module):
        return func(*args, **kwargs)
    return None  # not reached: fail_json exits


def hide_in_module(module, tool_name, destination, options):
    """Credentials in a destination or tool options: masked in everything the module returns
    (its result, the invocation Ansible logs and keeps in async result files), and given to
    this process's environment, where the tool reads them. Returns (destination, options)
    without them."""
    if tool_name not in TOOLS:
        return destination, options
    destination, options, env = TOOLS[tool_name].split_secrets(destination, options)
    for value in env.values():
        if value:
            module.no_log_values.add(value)
    os.environ.update(env)
    return destination, options

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where a module turns our errors into ``fail_json``.

A DatamoverError already says what to do; an OSError names its path; anything else is a bug
and keeps its traceback (shown with -vvv) behind a one-line message.
"""
from __future__ import annotations

import traceback

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError


def failure(exc):
    """The failure result (``msg``, and for a bug its ``exception``) that ``exc`` becomes."""
    if isinstance(exc, DatamoverError):
        return dict(msg=str(exc))
    if isinstance(exc, OSError):
        where = " (%s)" % exc.filename if getattr(exc, "filename", None) else ""
        return dict(msg="I/O error%s: %s" % (where, exc.strerror or exc))
    # a bug: say so, keep the traceback for -vvv
    return dict(msg="internal error: %s: %s" % (type(exc).__name__, exc),
                exception=traceback.format_exc())


def guarded(module, func, *args, **kwargs):
    """Call ``func``; on failure, fail the module with a sentence instead of a traceback."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # a bug included: failure() keeps its traceback
        module.fail_json(**failure(exc))
    return None  # not reached: fail_json exits

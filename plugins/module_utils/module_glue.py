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


def guarded(module, func, *args, **kwargs):
    """Call ``func``; on failure, fail the module with a sentence instead of a traceback."""
    try:
        return func(*args, **kwargs)
    except DatamoverError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        where = " (%s)" % exc.filename if getattr(exc, "filename", None) else ""
        module.fail_json(msg="I/O error%s: %s" % (where, exc.strerror or exc))
    except Exception as exc:  # a bug: say so, keep the traceback for -vvv
        module.fail_json(msg="internal error: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    return None  # not reached: fail_json exits

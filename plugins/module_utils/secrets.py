# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials that users put where they do not belong (a connection-string destination such
as ``:s3,secret_access_key=...:bucket``, or ``--s3-secret-access-key=...`` among the tool
options) are replaced by ``REDACTED`` in whatever we write or show.
"""
from __future__ import annotations

import re

__all__ = ["REDACTED", "is_secret_name", "redact", "redact_argv"]

REDACTED = "REDACTED"
# Parameter and flag names that carry a credential, in rclone's spelling (connection-string
# parameters and --<backend>-<name> flags).
_SECRET_WORDS = ("secret", "password", "pass", "token", "key", "sas_url", "credentials",
                 "auth", "session")
# key=value inside a connection string, the value possibly quoted
_PARAM_RE = re.compile(r"""([,:]?)([A-Za-z0-9_]+)=('[^']*'|"[^"]*"|[^,:]*)""")


def is_secret_name(name):
    name = name.lower().replace("-", "_")
    return any(word in name for word in _SECRET_WORDS)


def redact(text):
    """``text`` with the values of credential parameters of a connection string replaced."""
    if not isinstance(text, str) or "=" not in text:
        return text
    if text.startswith("--"):
        name, _sep, _value = text.partition("=")
        return name + "=" + REDACTED if is_secret_name(name[2:]) else text
    if not text.startswith(":"):
        return text

    def one(match):
        lead, name, value = match.groups()
        if not is_secret_name(name):
            return match.group(0)
        return "%s%s=%s" % (lead, name, REDACTED)
    return _PARAM_RE.sub(one, text)


def redact_argv(argv):
    """An argument list as we may log it: ``--secret-flag value`` and ``--secret-flag=value``
    and connection strings are redacted."""
    out, hide_next = [], False
    for arg in argv or []:
        arg = str(arg)
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("--") and "=" not in arg and is_secret_name(arg[2:]):
            hide_next = True
            out.append(arg)
            continue
        out.append(redact(arg))
    return out

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where OCI failures become messages a user can act on.

Each call names what it was doing and for which resource; the hint says what to do. OCI answers
404 NotAuthorizedOrNotFound both for "does not exist" and for "a policy does not allow it", so
callers pass a hint that names both possibilities for their resource.
"""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError


class OciAccessError(DatamoverError):
    """What failed, for which resource, and what to do (str(exc) is the whole message); the
    failed module returns OCI's status, code and request id beside it."""

    def __init__(self, message, status=None, code=None, request_id=None):
        super(OciAccessError, self).__init__(message, status=status, code=code,
                                             opc_request_id=request_id)
        self.status = status
        self.code = code
        self.request_id = request_id


# What to do, by HTTP status, when the caller has nothing more precise to say.
GENERIC_HINTS = {
    400: "the request was refused as invalid: check the value named in OCI's message",
    401: ("OCI did not accept the credentials: with auth_type=instance_principal, no dynamic group "
          "matches this instance (check the group's matching rule covers its compartment or tag); "
          "with a config file, check the user OCID, the key fingerprint and the key file"),
    403: "the caller is authenticated but no policy allows this: add the policy statement for it",
    404: ("it does not exist, or no policy lets the caller see it: check the name, the compartment "
          "and the region, then the policy statements"),
    409: "it conflicts with the current state (it exists, or is being changed): run again in a moment",
    412: "it changed while this ran (etag mismatch): run again",
    429: "OCI is throttling the caller: run again later",
}


def _fields(exc):
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    headers = getattr(exc, "headers", None) or {}
    request_id = headers.get("opc-request-id") if hasattr(headers, "get") else None
    return status, code, message, request_id


def from_service_error(exc, action, hints=None):
    """An OciAccessError for a ServiceError raised while doing ``action``.

    ``hints`` maps ``(status, code)`` or ``status`` to what the user should do here."""
    status, code, message, request_id = _fields(exc)
    hints = hints or {}
    hint = hints.get((status, code)) or hints.get(status) or GENERIC_HINTS.get(status)
    if hint is None:
        hint = "OCI failed on its side: run again; if it persists, quote the request id to Oracle support"
    text = "%s failed: OCI answered %s %s: %s. %s" % (action, status, code, message.rstrip("."), hint)
    if request_id:
        text += " (opc-request-id %s)" % request_id
    return OciAccessError(text, status=status, code=code, request_id=request_id)


def from_connection_error(exc, action, endpoint):
    return OciAccessError(
        "%s failed: cannot reach %s (%s): check the region (or endpoint) and this host's network "
        "or proxy to OCI" % (action, endpoint or "the OCI endpoint", exc.__class__.__name__))

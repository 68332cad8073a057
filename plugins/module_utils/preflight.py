# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that run on every worker before anything is planned or moved.

Each check returns a message that says what is wrong and what to do about it; all of a
host's problems are reported together so one run of the play shows them all.
"""
from __future__ import annotations

import os
import subprocess
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.tools import (
    TOOLS,
    find_binary,
    tool_version,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import remote_name

CANARY = ".datamover-canary"


def _fmt(version):
    return ".".join(str(x) for x in version) if version else "unknown"


def check_limits(params):
    problems = []
    for key in ("slots", "partition_files", "partition_bytes"):
        value = params.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            problems.append("datamover_%s must be a positive integer (got %r)" % (key, value))
    return problems


def check_source(source):
    if not source or not os.path.isabs(source):
        return ["datamover_source must be an absolute path (got %r)" % (source,)]
    if not os.path.exists(source):
        return ["source %s does not exist on this host: is the file system mounted?" % source]
    if not os.path.isdir(source):
        return ["source %s is not a directory: give the directory whose contents to move" % source]
    try:
        with os.scandir(source) as it:
            next(it, None)
    except PermissionError:
        return ["source %s is not readable by this user: run as a user that can read the "
                "whole tree (become: true), or fix permissions" % source]
    return []


def write_canary(shared_dir):
    """Run once by the first worker; every worker must then see the same nonce."""
    os.makedirs(shared_dir, exist_ok=True)
    nonce = uuid.uuid4().hex
    path = os.path.join(shared_dir, CANARY + "-" + nonce)
    with open(path, "w") as handle:
        handle.write(nonce)
    return nonce, path


def remove_canary(shared_dir, nonce):
    try:
        os.unlink(os.path.join(shared_dir, CANARY + "-" + nonce))
        return True
    except FileNotFoundError:
        return False


def check_shared(shared_dir, nonce=None):
    if not shared_dir or not os.path.isabs(shared_dir):
        return ["datamover_shared_dir must be an absolute path (got %r)" % (shared_dir,)]
    if not os.path.isdir(shared_dir):
        return ["shared dir %s does not exist on this host: mount the shared file system "
                "at the same path on every worker" % shared_dir]
    probe = os.path.join(shared_dir, ".datamover-probe-%s" % uuid.uuid4().hex)
    try:
        with open(probe, "w") as handle:
            handle.write("probe")
        os.unlink(probe)
    except OSError as exc:
        return ["shared dir %s is not writable here (%s): every worker writes its state "
                "there" % (shared_dir, exc.strerror)]
    if nonce:
        path = os.path.join(shared_dir, CANARY + "-" + nonce)
        try:
            with open(path) as handle:
                seen = handle.read()
        except OSError:
            seen = None
        if seen != nonce:
            return ["shared dir %s is not the same directory as on the first worker (its "
                    "canary file is not visible here): mount the same shared file system "
                    "at the same path everywhere" % shared_dir]
    return []


def check_tool(tool, explicit_binary=None):
    if tool not in TOOLS:
        return ["datamover_tool must be 'rclone' or 'rsync' (got %r)" % (tool,)], None
    try:
        binary = find_binary(tool, explicit_binary)
    except ToolError as exc:
        return [str(exc)], None
    version = tool_version(binary)
    minimum = TOOLS[tool].min_version
    if version is None or version < minimum:
        return ["%s at %s is version %s; datamover needs %s or newer%s" % (
            tool, binary, _fmt(version), _fmt(minimum),
            " (the oracleobjectstorage backend needs rclone >= 1.61)" if tool == "rclone" else ""
        )], binary
    return [], binary


def _run(argv, env=None, stdin=None):
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False, timeout=300, env=env)


def check_destination(tool, destination, binary, rclone_config=None, probe=True):
    if tool == "rsync":
        if not destination or not os.path.isabs(destination):
            return ["with rsync, datamover_destination must be an absolute path (got %r)"
                    % (destination,)]
        parent = os.path.dirname(destination.rstrip("/")) or "/"
        if not os.path.isdir(destination) and not os.path.isdir(parent):
            return ["destination %s does not exist and neither does its parent %s: "
                    "create the parent directory first" % (destination, parent)]
        if not probe:
            return []
        try:
            os.makedirs(destination, exist_ok=True)
            path = os.path.join(destination, ".datamover-probe-%s" % uuid.uuid4().hex)
            with open(path, "w") as handle:
                handle.write("probe")
            os.unlink(path)
        except OSError as exc:
            return ["destination %s is not writable here (%s)" % (destination, exc.strerror)]
        return []
    # rclone
    if not destination or ":" not in destination or destination.startswith("/"):
        return ["with rclone, datamover_destination must be remote:bucket[/prefix] (got %r)"
                % (destination,)]
    base = [binary] + (["--config", rclone_config] if rclone_config else [])
    if rclone_config and not os.path.isfile(rclone_config):
        return ["rclone config %s does not exist on this host (datamover_rclone_config)"
                % rclone_config]
    remote = remote_name(destination)
    if remote:
        proc = _run(base + ["listremotes"])
        remotes = [r.strip().rstrip(":") for r in proc.stdout.decode("utf-8", "replace").splitlines()]
        if remote not in remotes and not _remote_from_env(remote):
            return ["rclone remote %r is not configured on this host (known: %s). Add it to "
                    "the rclone config (roles/rclone) or point datamover_rclone_config at "
                    "the right file" % (remote, ", ".join(remotes) or "none")]
    if not probe:
        return []
    name = "%s/.datamover-probe-%s" % (destination.rstrip("/"), uuid.uuid4().hex)
    proc = _run(base + ["rcat", name], stdin=b"probe")
    if proc.returncode != 0:
        return ["destination %s is not writable: rclone rcat failed (%s)" % (
            destination, _last_line(proc.stderr))]
    proc = _run(base + ["deletefile", name])
    if proc.returncode != 0:
        return ["destination %s accepted a write but the probe object %s could not be "
                "deleted (%s)" % (destination, name, _last_line(proc.stderr))]
    return []


def _remote_from_env(remote):
    return ("RCLONE_CONFIG_%s_TYPE" % remote.upper().replace("-", "_")) in os.environ


def _last_line(data):
    lines = [x for x in data.decode("utf-8", "replace").splitlines() if x.strip()]
    return lines[-1] if lines else "no output"

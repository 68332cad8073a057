# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that run on every worker before anything is planned or moved.

Each check returns a message that says what is wrong and what to do about it; all of a
host's problems are reported together so one run of the play shows them all.
"""
from __future__ import annotations

import os
import time
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import TUNABLE_RANGES
from ansible_collections.datamover.fleet.plugins.module_utils.errors import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.estimate import estimate_problems
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Excluder
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    host_canary_seen,
    read_canary,
    write_host_canary,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools import (
    TOOLS,
    find_binary,
    tool_class,
    tool_version,
)

__all__ = ["ToolError", "check_destination", "check_excludes", "check_limits", "check_overlaps",
           "check_shared",
           "check_request_budget", "check_source", "check_tool", "check_tool_options",
           "check_tunables", "find_binary", "source_link_problem",
           "rendezvous", "shared_dir_exclude"]


def _fmt(version):
    return ".".join(str(x) for x in version) if version else "unknown"


def check_limits(params):
    problems = []
    for key in ("slots", "partition_files", "partition_bytes"):
        value = params.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            problems.append("datamover_%s must be a positive integer (got %r)" % (key, value))
    return problems


def check_tunables(tunables):
    """Every numeric tunable within its range (args_common.TUNABLE_RANGES). ``tunables`` maps
    the role variable's name without its datamover_ prefix to the value given; None = unset."""
    problems = []
    for key, value in sorted((tunables or {}).items()):
        if key not in TUNABLE_RANGES or value is None:
            continue
        low, high, what = TUNABLE_RANGES[key]
        number = _number(value)
        if number is None:
            problems.append("datamover_%s must be a number (%s), got %r" % (key, what, value))
        elif number < low or (high is not None and number > high):
            bounds = ("at least %s" % low) if high is None else ("from %s to %s" % (low, high))
            problems.append("datamover_%s must be %s (%s), got %r" % (key, bounds, what, value))
    return problems


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def check_tool_options(tool, options):
    """datamover_tool_options against the tool's own policy (tools/<tool>.py)."""
    if tool not in TOOLS:
        return []  # check_tool says so
    return tool_class(tool).option_problems(options)


def check_request_budget(tool, tunables, options=()):
    """A request budget (datamover_max_requests_per_second) for a tool that sends no
    requests is refused rather than ignored: the user meant to protect something. With a
    budget, a --tpslimit of the user's would override each process's share."""
    budget = _number((tunables or {}).get("max_requests_per_second"))
    if tool not in TOOLS or not budget:
        return []
    if tool_class(tool).sends_requests:
        own = ("--tpslimit", "--tpslimit-burst")
        given = [str(o) for o in options or () if str(o).split("=", 1)[0] in own]
        return ["datamover_tool_options: %s is refused with datamover_max_requests_per_second: "
                "datamover gives every rclone process its share of the budget; drop %s"
                % (given[0], given[0].split("=", 1)[0])] if given else []
    return ["datamover_max_requests_per_second=%s is refused with %s: it limits the requests "
            "sent to an object store (rclone), and %s to a file system sends none. Leave it 0; "
            "to spare the file systems, lower datamover_slots or give --bwlimit in "
            "datamover_tool_options" % ((tunables or {}).get("max_requests_per_second"), tool,
                                        tool)]


# Names of every kind a tree holds: a pattern that excludes all of them excludes everything.
_ANY_NAMES = (b"a", b"data.bin", b".hidden", b"Z 9", b"-x", b"\xe9t\xe9", b"\n")


def check_pass(plan_only, audit, estimate):
    """datamover_plan_only and datamover_audit are two passes that move nothing, each with
    its own report: one run is one of them. The estimate's prices and rates are checked
    here, before anything runs, not when the report is written."""
    problems = []
    if plan_only and audit:
        problems.append("datamover_plan_only and datamover_audit are both true: a plan-only "
                        "pass sizes the source before a migration, an audit compares the "
                        "destination with the source after it; run them one at a time, each "
                        "with its own datamover_run_id")
    return problems + estimate_problems(estimate)


def check_excludes(excludes):
    """A datamover_excludes pattern that matches every name (``*``, ``**``, ``?*``...) would
    leave nothing to move: a run of 0 files is a mistake, not a success. Refused before
    anything is written (a set of patterns that together exclude the whole tree fails the
    run instead: report.py)."""
    problems = []
    for pattern in excludes or []:
        excluder = Excluder([pattern])
        if all(excluder.excluded(name, name, True) and excluder.excluded(name, name, False)
               for name in _ANY_NAMES):
            problems.append("datamover_excludes: %r matches every name, so nothing would be "
                            "moved: exclude what you mean to leave out (e.g. '*.tmp', "
                            "'scratch/')" % pattern)
    return problems


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_overlaps(source, destination, tool, shared_dir):
    """Paths that would copy the data onto itself or the run's own files into the data.

    Real paths (symlinks resolved), so a link cannot hide an overlap. A shared dir inside the
    source is not a problem: the crawl leaves it out (shared_dir_exclude)."""
    if not source or not shared_dir or not os.path.isabs(source) \
            or not os.path.isabs(shared_dir):
        return []  # check_source / check_shared say so
    src, shared = os.path.realpath(source), os.path.realpath(shared_dir)
    problems = []
    if _inside(src, shared):
        problems.append("the source %s is inside the shared dir %s (or is it): the run's own "
                        "files would be copied as data. Put the shared dir elsewhere"
                        % (source, shared_dir))
    if tool != "rsync" or not destination or not os.path.isabs(destination):
        return problems
    dst = os.path.realpath(destination)
    if src == dst:
        problems.append("the destination %s is the source: choose another destination"
                        % destination)
    elif _inside(dst, src):
        problems.append("the destination %s is inside the source %s: the copy would be copied "
                        "again. Choose a destination outside the source" % (destination, source))
    elif _inside(src, dst):
        problems.append("the source %s is inside the destination %s: files would be written "
                        "over the tree being read. Choose a destination outside the source"
                        % (source, destination))
    if _inside(dst, shared) or _inside(shared, dst):
        problems.append("the destination %s and the shared dir %s overlap: the run's own files "
                        "would mix with the copied data. Keep them apart"
                        % (destination, shared_dir))
    return problems


def shared_dir_exclude(source, shared_dir):
    """The crawl's exclude pattern for a shared dir inside the source (the runbook's
    /lst/fpsync with source /lst/), and its path relative to the source; (None, None) when
    the shared dir is elsewhere."""
    if not source or not shared_dir:
        return None, None
    src, shared = os.path.realpath(source), os.path.realpath(shared_dir)
    if src == shared or not _inside(shared, src):
        return None, None
    rel = os.path.relpath(shared, src)
    # anchored ("/" first), directories only ("/" last), fnmatch's specials taken literally
    literal = "".join("[%s]" % c if c in "*?[" else c for c in rel)
    return "/" + literal + "/", rel


def source_link_problem(source):
    """A source given as a symlink is refused, not followed: the crawl opens the root without
    following links (a link swapped during a run would move another tree), and the run would
    record a path that can point elsewhere on the next resume. The message names the target."""
    root = source.rstrip("/") or "/"
    if not os.path.islink(root):
        return []
    return ["source %s is a symlink (to %s): datamover does not follow a symlinked source. Give "
            "the directory itself: -e datamover_source=%s" % (source, os.readlink(root),
                                                              os.path.realpath(root))]


def check_source(source):
    if not source or not os.path.isabs(source):
        return ["datamover_source must be an absolute path (got %r)" % (source,)]
    if source_link_problem(source):
        return source_link_problem(source)
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
        if read_canary(shared_dir, nonce) != nonce:
            return ["shared dir %s is not the same directory as on the first worker (its "
                    "canary file is not visible here): mount the same shared file system "
                    "at the same path everywhere" % shared_dir]
    return []


def make_shared(shared_dir):
    """The shared dir may be created (its parent is on the shared file system); a worker that
    creates it on a local disk is caught by the rendezvous."""
    if shared_dir and os.path.isabs(shared_dir) and not os.path.isdir(shared_dir):
        try:
            os.makedirs(shared_dir, exist_ok=True)
        except OSError as exc:
            return ["shared dir %s does not exist and cannot be created here (%s): mount the "
                    "shared file system at the same path on every worker"
                    % (shared_dir, exc.strerror)]
    return []


def rendezvous(shared_dir, nonce, me, hosts, timeout=30.0, poll=0.01):
    """Every worker writes its canary, then waits to see every other worker's: the workers
    prove they share one directory in a single round trip of the play. Returns problems."""
    try:
        write_host_canary(shared_dir, nonce, me)
    except OSError as exc:
        return ["shared dir %s is not writable here (%s): every worker writes its state there"
                % (shared_dir, exc.strerror)]
    waiting = [h for h in hosts if h != me]
    deadline = time.time() + timeout
    while True:
        waiting = [h for h in waiting if not host_canary_seen(shared_dir, nonce, h)]
        if not waiting or time.time() > deadline:
            break
        time.sleep(poll)
    if waiting:
        return ["shared dir %s is not the same directory as on %s (their preflight canary did "
                "not appear here within %ds, or they failed before writing it): mount the same "
                "shared file system at the same path on every worker"
                % (shared_dir, ", ".join(sorted(waiting)), timeout)]
    return []


def check_tool(tool, explicit_binary=None):
    if tool not in TOOLS:
        return ["datamover_tool must be one of %s (got %r)" % (", ".join(sorted(TOOLS)), tool)], None
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


def check_destination(tool, destination, binary, rclone_config=None, probe=True, options=()):
    return tool_class(tool).check_destination(destination, binary, rclone_config, probe=probe,
                                              options=options)

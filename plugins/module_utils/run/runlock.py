# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One controller per run: the controller lock in the run directory (rundir.controller_lock_path).

Two ``migrate.yml`` plays on one run id would dispatch two sets of workers and write two
reports over each other. The first play takes the lock after preflight; a second one is
refused with the holder's host, pid and start time, unless the holder is provably gone:

- the lock's heartbeat (its mtime, touched by the holder's watch) is older than
  ``stale_after`` seconds (any host may decide this), or
- the holder ran on the same host as the asking controller and its pid is not alive, or is
  now another process (its start time differs): only that controller can know this, so the
  action plugin decides it and asks for the lock to be broken by the holder's nonce.

The lock is created whole and atomically (written aside, then link(2), which fails when the
lock exists, on local file systems, NFS and Lustre alike) and removed at the end of the play
by its holder only (by nonce). A refused play writes nothing.
"""
from __future__ import annotations

import json
import os
import time
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import fs_now, read_json
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import ACCESS_MODES, RunDir

# Never less than this: preflight's rendezvous and the dispatch run before the watch beats.
MIN_STALE_AFTER = 120.0


def stale_after(lease_seconds, interval):
    """Seconds without a heartbeat after which a controller is gone: the watch touches the lock
    every few seconds (at most every ``interval``), so several missed beats and more than the
    workers' lease."""
    return max(MIN_STALE_AFTER, 2.0 * float(lease_seconds or 0), 4.0 * float(interval or 0))


def read_holder(rundir):
    """(holder record, heartbeat age in seconds) of the lock, or (None, None)."""
    path = rundir.controller_lock_path()
    try:
        holder = read_json(path)
        mtime = os.stat(path).st_mtime
    except (OSError, ValueError):
        return None, None
    if not isinstance(holder, dict):
        holder = {}
    return holder, max(0.0, time.time() - mtime)


def _stale(rundir, age, after):
    """Stale by this host's clock, confirmed by the shared file system's (clocks drift)."""
    if age is None or age <= after:
        return False
    try:
        mtime = os.stat(rundir.controller_lock_path()).st_mtime
    except OSError:
        return True
    return fs_now(rundir.clock_path()) - mtime > after if os.path.isdir(rundir.p("tmp")) \
        else True


def take(rundir, holder, after, breaks=None, access="private"):
    """Take the lock for ``holder`` (a dict with at least ``nonce``). Returns a dict:
    taken (bool), holder (the lock's record after the call), age (heartbeat age of a refused
    holder), broken (the record of a gone holder this call replaced, or None).

    ``breaks`` is the nonce of a holder the caller proved gone (same host, dead pid); a holder
    whose heartbeat is older than ``after`` seconds is gone for anyone. A refusal writes
    nothing."""
    path = rundir.controller_lock_path()
    broken = None
    for _attempt in range(3):
        current, age = read_holder(rundir)
        if current is not None:
            if current.get("nonce") == holder["nonce"]:
                return dict(taken=True, holder=current, age=age, broken=broken)  # ours already
            gone = (breaks and current.get("nonce") == breaks) or _stale(rundir, age, after)
            if not gone:
                return dict(taken=False, holder=current, age=round(age, 1), broken=broken)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            broken = current
            continue
        if not os.path.isdir(rundir.path):
            mode = ACCESS_MODES[access or "private"][0]
            os.makedirs(rundir.shared_dir, exist_ok=True)
            try:
                os.mkdir(rundir.path, mode & 0o777)
                os.chmod(rundir.path, mode)
            except FileExistsError:
                pass
        tmp = os.path.join(rundir.path, ".tmp-controller-%s" % uuid.uuid4().hex[:12])
        with rundir.open_new(tmp) as handle:
            handle.write((json.dumps(holder, sort_keys=True) + "\n").encode("utf-8"))
        try:
            os.link(tmp, path)
        except FileExistsError:
            continue  # another controller was faster: look at it
        finally:
            os.unlink(tmp)
        return dict(taken=True, holder=holder, age=0.0, broken=broken)
    current, age = read_holder(rundir)
    return dict(taken=False, holder=current or {}, age=age, broken=broken)


def heartbeat(rundir, nonce):
    """The holder's watch: touch the lock (only its own). False when it is not ours any more."""
    current, _age = read_holder(rundir)
    if not current or current.get("nonce") != nonce:
        return False
    try:
        os.utime(rundir.controller_lock_path(), None)
    except OSError:
        return False
    return True


def release(rundir, nonce):
    """Remove the lock if ``nonce`` holds it, and the credentials of this execution
    (private/secrets.json); then the run directory too when the lock was all it held (a run
    refused before it was created). Returns whether the lock was removed."""
    current, _age = read_holder(rundir)
    if not current or current.get("nonce") != nonce:
        return False
    try:
        os.unlink(rundir.controller_lock_path())
    except FileNotFoundError:
        return False
    rundir.remove_secrets()  # the play's end: credentials do not outlive it
    if not rundir.exists():
        try:
            os.rmdir(rundir.path)
        except OSError:
            pass  # not empty: something else lives there
    return True


def describe(holder, age, after, path):
    """The refusal, for people."""
    return ("run %s is being run by another controller: host %s, pid %s, started %s (its "
            "last heartbeat %ss ago; it counts as gone after %ds without one, or at once when "
            "it ran on this host and its pid is dead). Wait for it to end, or stop it (touch "
            "the run's STOP file, or playbooks/awx_stop.yml), then run again. If you know it is "
            "gone (its host lost), remove %s." % (
                holder.get("run_id", "?"), holder.get("host", "?"), holder.get("pid", "?"),
                holder.get("started", "?"), "?" if age is None else int(age), int(after), path))


def run_lock(p):
    """The run_lock module's work on its parameters (the module, or its action plugin when
    the task's host is this controller itself)."""
    rundir = RunDir(p["shared_dir"], p["run_id"])
    if p["state"] == "released":
        released = release(rundir, p["nonce"])
        return dict(changed=released, released=released)
    if p["state"] == "beat":
        return dict(changed=False, held=heartbeat(rundir, p["nonce"]))
    after = stale_after(p["lease_seconds"], p["interval"])
    holder = dict(p.get("holder") or {}, nonce=p["nonce"], run_id=p["run_id"])
    out = take(rundir, holder, after, breaks=p.get("breaks"), access=p["run_dir_access"])
    out.update(changed=out["taken"], stale_after=after, path=rundir.controller_lock_path())
    if not out["taken"]:
        out["msg"] = describe(out["holder"], out["age"], after, out["path"])
    return out

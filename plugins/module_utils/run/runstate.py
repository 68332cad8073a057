# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partition state machine kept in the run directory, driven only by atomic renames.

    state/todo/NNNNNN                      waiting
    state/claimed/NNNNNN@<owner token>     held by a worker slot; its mtime is the lease
    state/done/NNNNNN                      moved and verified
    state/failed/NNNNNN                    gave up after the retry limit

rename(2) within one file system is atomic on local file systems, NFS and Lustre, so exactly
one of several concurrent claimers wins a partition and no lock server is needed. The owner
token is part of the claimed file's name: a worker whose lease was taken away (it was stale and
another worker re-queued it) finds its file gone when it heartbeats or finishes, and knows.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import fs_now
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import part_name, safe_name
from ansible_collections.datamover.fleet.plugins.module_utils.run.wakeup import QUEUE_CHANGED

STATES = ("todo", "claimed", "done", "failed")


@dataclass
class Lease:
    part_id: int
    token: str
    path: str


def make_token(host, slot=0):
    return "%s~%d~%d~%s" % (safe_name(host), os.getpid(), slot, uuid.uuid4().hex[:8])


def token_host_pid(token):
    parts = token.split("~")
    try:
        return parts[0], int(parts[1])
    except (IndexError, ValueError):
        return None, None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunState:
    """The partitions' state machine (todo, claimed, done, failed) as file names in the run
    directory's state/, moved only by atomic renames: claims, leases, settling, reaping."""

    def __init__(self, rundir):
        self.rundir = rundir
        self.dirs = {s: rundir.state_dir(s) for s in STATES}
        # Claims walk partition ids upwards from here instead of listing state/todo, so a
        # claim costs O(1) renames however many partitions the run has (see claim_next).
        self._cursor = 1
        self._cursor_lock = threading.Lock()

    # listing -----------------------------------------------------------------------------
    def ids(self, state):
        out = []
        for name in os.listdir(self.dirs[state]):
            head = name.split("@", 1)[0]
            if head.isdigit():
                out.append(int(head))
        return sorted(out)

    def counts(self):
        return {s: len(self.ids(s)) for s in STATES}

    def unsettled(self):
        """(todo, claimed) counts: what a worker needs to decide it is finished."""
        return len(os.listdir(self.dirs["todo"])), len(os.listdir(self.dirs["claimed"]))

    def add_todo(self, part_id):
        """Publish a partition. Idempotent: a partition already in any state is left alone."""
        name = part_name(part_id)
        for state in ("todo", "done", "failed"):
            if os.path.exists(os.path.join(self.dirs[state], name)):
                return False
        if any(n.split("@", 1)[0] == name for n in os.listdir(self.dirs["claimed"])):
            return False
        path = os.path.join(self.dirs["todo"], name)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, self.rundir.file_mode()))
        QUEUE_CHANGED.notify()
        return True

    # claiming ----------------------------------------------------------------------------
    def claim(self, part_id, token):
        name = part_name(part_id)
        dst = os.path.join(self.dirs["claimed"], "%s@%s" % (name, token))
        try:
            os.rename(os.path.join(self.dirs["todo"], name), dst)
        except FileNotFoundError:
            return None
        lease = Lease(int(part_id), token, dst)
        # rename keeps the todo file's old mtime: refresh it at once so nobody sees it stale.
        if not self.heartbeat(lease):
            return None
        try:
            fd = os.open(dst, os.O_WRONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps({"token": token, "host": socket.gethostname(),
                                     "pid": os.getpid()}).encode())
        return lease

    def claim_next(self, token):
        """Claim the next free partition.

        Partition ids are published in increasing order, so the cursor tries ``todo/<id>``
        directly and moves past ids that are taken. Only when it reaches an id that has no
        manifest yet (the end of what is published) does it list state/todo, to catch
        partitions given back (stale leases, stopped workers, resumed failures) or
        published behind it. Listing 100,000 names per claim is what this avoids.
        """
        while True:
            with self._cursor_lock:
                part_id = self._cursor
                self._cursor += 1
            lease = self.claim(part_id, token)
            if lease is not None:
                return lease
            if not self.rundir.has_manifest(part_id):
                with self._cursor_lock:
                    self._cursor = min(self._cursor, part_id)
                break
        for part_id in self.ids("todo"):
            lease = self.claim(part_id, token)
            if lease is not None:
                return lease
        return None

    def heartbeat(self, lease):
        try:
            os.utime(lease.path, None)
            return True
        except FileNotFoundError:
            return False

    def _settle(self, lease, state):
        try:
            os.rename(lease.path, os.path.join(self.dirs[state], part_name(lease.part_id)))
        except FileNotFoundError:
            return False
        QUEUE_CHANGED.notify()
        return True

    def finish(self, lease):
        """Mark done. False means the lease had been taken away: someone else owns it now."""
        return self._settle(lease, "done")

    def fail(self, lease):
        return self._settle(lease, "failed")

    def release(self, lease):
        """Give a partition back untouched (the worker is stopping)."""
        return self._settle(lease, "todo")

    # recovery ----------------------------------------------------------------------------
    def claimed(self):
        """Yield (part_id, token, path, mtime) for every claimed partition."""
        for name in os.listdir(self.dirs["claimed"]):
            head, dummy, token = name.partition("@")
            if not head.isdigit():
                continue
            path = os.path.join(self.dirs["claimed"], name)
            try:
                mtime = os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            yield int(head), token, path, mtime

    def reap_stale(self, lease_seconds, local_host=None):
        """Put back partitions whose owner stopped heart-beating (or, on this host, died).

        Returns the list of re-queued partition ids.
        """
        now = fs_now(self.rundir.clock_path())
        requeued = []
        for part_id, token, path, mtime in self.claimed():
            host, pid = token_host_pid(token)
            dead_here = (local_host is not None and host == safe_name(local_host)
                         and pid is not None and not _pid_alive(pid))
            if not dead_here and now - mtime <= lease_seconds:
                continue
            try:
                os.rename(path, os.path.join(self.dirs["todo"], part_name(part_id)))
                requeued.append(part_id)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        return sorted(requeued)

    def requeue_failed(self):
        """A resumed run gives failed partitions another set of attempts."""
        moved = []
        for part_id in self.ids("failed"):
            try:
                os.rename(os.path.join(self.dirs["failed"], part_name(part_id)),
                          os.path.join(self.dirs["todo"], part_name(part_id)))
                moved.append(part_id)
            except FileNotFoundError:
                pass
        return moved

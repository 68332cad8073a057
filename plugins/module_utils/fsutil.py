# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small file-system helpers shared by the run directory, the crawler and the worker.

Everything that other hosts read is written with write-to-temp + rename so a reader on
NFS/Lustre never sees a half-written file.
"""
from __future__ import annotations

import json
import os
import stat
import time
import uuid


def atomic_write_bytes(path, data, mode=None):
    """Write ``data`` to ``path`` so that readers see either the old or the new content.

    Without ``mode``, the file is as private as its directory: readable by those who may
    list it (a 0700 run directory gives 0600 files, a group one 0640), whatever the umask of
    the process writing it (the controller's, a worker's)."""
    directory = os.path.dirname(path) or "."
    if mode is None:
        mode = stat.S_IMODE(os.stat(directory).st_mode) & 0o666
    tmp = os.path.join(directory, ".tmp-%s-%s" % (os.path.basename(path), uuid.uuid4().hex[:12]))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_mode_of(directory):
    """The mode of the files datamover writes in ``directory``: as private as the directory
    (a 0700 run directory gives 0600, a 2750 one 0640)."""
    return stat.S_IMODE(os.stat(directory).st_mode) & 0o666


def open_private(path, mode=None, append=True, buffering=-1):
    """Open ``path`` for writing (appending, or truncated) with the run directory's file mode,
    whatever the umask of the writer: the tools' logs, state markers, scratch lists. ``mode``
    defaults to the file mode of the file's directory (file_mode_of)."""
    if mode is None:
        mode = file_mode_of(os.path.dirname(path) or ".")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it (or a group mode widens it)
    except PermissionError:
        pass  # another user's file in a group-shared run: it keeps its mode
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab" if append else "wb", buffering=buffering)


def atomic_write_json(path, obj, mode=None):
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8"), mode)


def read_json(path, default=None):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return default


def fs_now(path):
    """Current time as the shared file system sees it.

    Leases are compared with file mtimes that the file server sets; comparing them with a
    worker's own clock breaks when clocks drift, so we ask the file system for "now" by
    touching a clock file and reading its mtime back. ``path`` is one file per host, reused by
    every process and poll of that host (rundir.clock_path): a file per process would leave
    one behind per status poll, tens of thousands over a week-long run.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.utime(path, None)
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024.0 or unit == "PiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f PiB" % n


def human_seconds(s):
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return "%d:%02d:%02d" % (h, m, sec)


def first_non_dir(root, rel, cache=None):
    """The first component of directory path ``rel`` (bytes, relative to ``root``) that is
    not a real directory, as (prefix, lstat result or None when it is missing); None when
    every component is a directory. Each component is lstat'ed on its own, so no symlink on
    the way is followed (an lstat of the whole path follows every component but the last).
    ``cache`` (a dict) keeps each prefix's lstat for the next call: a partition's
    directories share their ancestors."""
    if not rel:
        return None
    cache = {} if cache is None else cache
    parts = rel.split(b"/")
    for i in range(1, len(parts) + 1):
        prefix = b"/".join(parts[:i])
        if prefix not in cache:
            try:
                cache[prefix] = os.lstat(os.path.join(root, prefix))
            except OSError:
                cache[prefix] = None
        st = cache[prefix]
        if st is None or not stat.S_ISDIR(st.st_mode):
            return prefix, st
    return None

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which directory the source root is: recorded when a run is planned, compared by every
worker before it moves a partition and before it counts a file as vanished.

A source that is renamed, unmounted (the empty mount point below shows through) or replaced
while a run goes on looks, file by file, like 300 files that "vanished": each one alone is a
normal event, together they are a source that is gone. The root's identity answers that
once: its inode, the file system it sits on (mount point and type, from
/proc/self/mountinfo) and its device number.

Device numbers of NFS and other network mounts are given out per client mount, so another
host (or the same host after a remount) may see the same export under another number, and
another host may mount it elsewhere. The device is therefore compared only on the host that
planned, the inode and the file system type everywhere, and the mount point (a bind mount of
the same directory is the same source) only named in messages. An unmounted
export shows the mount point's own directory (another inode, another file system type), a
renamed or replaced root another inode or no directory.
"""
from __future__ import annotations

import os
import socket
import stat

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError

__all__ = ["SourceGone", "describe", "identity_problem", "mount_of", "root_identity"]

MOUNTINFO = "/proc/self/mountinfo"
ADVICE = "was it unmounted or renamed? remount it and run the same command again"


class SourceGone(DatamoverError):
    """The source root (or its mount) is no longer the directory the run planned from."""


def _unescape(field):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_of(path, st_dev, mountinfo=MOUNTINFO):
    """(mount point, file system type) of the mount ``path`` sits on (its st_dev), or
    (None, None) where /proc/self/mountinfo cannot say (not Linux). Of several mounts of the
    same device, the deepest one that holds ``path``."""
    want = "%d:%d" % (os.major(st_dev), os.minor(st_dev))
    real = os.path.realpath(path)
    best = (None, None)
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return best
    for line in lines:
        head, _sep, tail = line.partition(" - ")
        fields = head.split()
        if len(fields) < 5 or fields[2] != want:
            continue
        point = _unescape(fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best[0] is None or len(point) > len(best[0])):
            best = (point, (tail.split() or ["?"])[0])
    return best


def root_identity(source):
    """The identity of the directory ``source`` names now (following a symlink given as the
    source itself). Raises SourceGone when there is no directory there."""
    try:
        st = os.stat(source)
    except OSError as exc:
        raise SourceGone("the source %s cannot be read (%s): %s" % (source, exc.strerror, ADVICE))
    if not stat.S_ISDIR(st.st_mode):
        raise SourceGone("the source %s is no longer a directory: %s" % (source, ADVICE))
    mount, fstype = mount_of(source, st.st_dev)
    return {"path": source, "dev": "%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev)),
            "dev_num": st.st_dev, "ino": st.st_ino, "mount": mount, "fstype": fstype,
            "host": socket.gethostname()}


def describe(ident):
    """'device 0:45 inode 123, tmpfs mounted on /mnt/x'."""
    text = "device %s inode %s" % (ident.get("dev"), ident.get("ino"))
    if ident.get("mount"):
        text += ", %s mounted on %s" % (ident.get("fstype"), ident["mount"])
    return text


def identity_problem(planned, current, what="the directory that was planned"):
    """Why ``current`` (root_identity now) is not the ``planned`` root, or None.

    Everywhere: the inode and the file system type (its family: one host may mount an export
    as nfs4, another as nfs). On the planning host only: the device number, which another host
    may give the same file system (see the module's docstring). Never the mount point alone:
    a bind mount of the same directory (a container, a pod on the planning node) is the same
    directory; an unmount or a rename changes the device or the inode."""
    keys = ("ino", "fstype") + (("dev_num",) if planned.get("host") == current.get("host")
                                else ())
    if all(_same(key, planned.get(key), current.get(key)) for key in keys):
        return None
    return ("the source %s is no longer %s (%s; now %s): %s"
            % (planned.get("path"), what, describe(planned), describe(current), ADVICE))


def _same(key, before, now):
    if before is None or now is None:
        return True  # not known on one side (no /proc/self/mountinfo): not a difference
    if key == "fstype":
        return before.rstrip("0123456789") == now.rstrip("0123456789")
    return before == now

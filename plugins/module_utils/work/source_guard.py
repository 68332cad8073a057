# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A worker's checks that the source is still the source it planned.

Two ways a source stops being the planned one while a run goes on, and what each would do
unchecked:

* the root goes away (renamed, unmounted, replaced): every file left to move "vanished", each
  one alone a normal event, and the run ends green with a fraction of the data;
* a directory is swapped for a symlink (or a mount) after the crawl: rclone opens each file
  through the link, rsync writes the link or the files behind it, and verification finds
  the names and sizes it expects, from outside the source.

So before each partition's transfer and again when it is verified, the root is compared with
source.json (one stat when it has not changed) and each directory the partition moves from
with the crawl's record of it (parts/NNNNNN.dirs): every component lstat'ed on its own, the
directory itself the same inode, on the same side of a mount as the root. A gone root raises
SourceGone (the worker fails the run and stops every worker); a changed directory names its
files, which are then not moved, or removed from the destination when they were.
"""
from __future__ import annotations

import os
import stat
import threading

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import first_non_dir
from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
    ADVICE,
    SourceGone,
    describe,
    identity_problem,
    root_identity,
)

__all__ = ["SourceGone", "SourceGuard", "entry_dir", "vanished_problem"]

# A partition whose files vanish beyond this share fails (unless datamover_tolerate has
# "vanished"). A partition is a few directories of the same tree, crawled minutes or hours
# before: a few files deleted in the meantime is a live tree, a tenth of them at once is a
# directory removed or renamed, which the user should know about before calling the copy
# complete. Below VANISHED_MIN files nothing fails: one of three files is not a pattern.
VANISHED_SHARE = 0.10
VANISHED_MIN = 5


def entry_dir(entry):
    """The directory an entry is moved from (an empty directory's record: itself)."""
    kind, _size, _mtime, rel = entry
    return rel if kind == "d" else rel.rpartition(b"/")[0]


def vanished_problem(vanished, files, tolerated):
    """The error of a partition that lost too many files, or None."""
    if tolerated or vanished < VANISHED_MIN or vanished <= files * VANISHED_SHARE:
        return None
    return ("%d of its %d files vanished from the source during the run (more than %d%%): a "
            "directory removed or renamed while the run went on? Check the source; to accept "
            "it, run again with -e '{\"datamover_tolerate\": [\"vanished\"]}'"
            % (vanished, files, int(VANISHED_SHARE * 100)))


class SourceGuard:
    def __init__(self, rundir, source):
        self.rundir = rundir
        self.source = source
        self.bsource = os.fsencode(source)
        self._lock = threading.Lock()
        self._pinned = None  # (st_dev, st_ino) of the root once it matched the plan here

    def check_root(self):
        """Raise SourceGone unless the root is still the planned directory; return its
        st_dev. One stat while it is the directory this worker already matched."""
        try:
            st = os.stat(self.source)
        except OSError:
            st = None
        if st is not None and self._pinned == (st.st_dev, st.st_ino):
            return st.st_dev
        current = root_identity(self.source)  # raises SourceGone: no directory there
        planned = self.rundir.source_identity()
        with self._lock:
            if planned is None:
                # A run planned before 0.4 (or source.json not written yet): the directory
                # this worker first saw is the one it must keep seeing.
                if self._pinned is not None:
                    raise SourceGone(
                        "the source %s is no longer the directory this worker began with "
                        "(device %d:%d inode %d; now %s): %s" % (
                            self.source, os.major(self._pinned[0]), os.minor(self._pinned[0]),
                            self._pinned[1], describe(current), ADVICE))
            else:
                problem = identity_problem(planned, current)
                if problem is not None:
                    raise SourceGone(problem)
            self._pinned = (current["dev_num"], current["ino"])
        return current["dev_num"]

    def changed_dirs(self, entries, idents):
        """{directory: why} for the directories ``entries`` are moved from that are no longer
        the directories the crawl listed (``idents``: rundir.read_dir_identities). Checks the
        root first (SourceGone). A directory that is gone is not here: its files vanished."""
        root_dev = self.check_root()
        cache, out = {}, {}
        for rel in sorted({entry_dir(e) for e in entries}):
            why = self._problem(rel, idents.get(rel), root_dev, cache)
            if why is not None:
                out[rel] = why
        return out

    def _problem(self, rel, ident, root_dev, cache):
        bad = first_non_dir(self.bsource, rel, cache)
        if bad is not None:
            prefix, st = bad
            if st is None:
                return None  # gone: its files are counted as vanished
            name = os.fsdecode(prefix)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.fsdecode(os.readlink(os.path.join(self.bsource, prefix)))
                except OSError:
                    target = "?"
                return ("the directory %s became a symlink to %s after it was planned; its "
                        "files were not copied" % (name, target))
            return ("the directory %s is no longer a directory since it was planned; its "
                    "files were not copied" % name)
        if ident is None or not rel:
            return None
        st = cache[rel]
        same_fs, ino = ident
        if st.st_ino != ino or (st.st_dev == root_dev) != same_fs:
            return ("the directory %s is another directory%s than the one planned (inode %d, "
                    "now %d); its files were not copied" % (
                        os.fsdecode(rel), "" if (st.st_dev == root_dev) == same_fs
                        else ", on another file system,", ino, st.st_ino))
        return None

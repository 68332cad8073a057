# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync adapter: POSIX to POSIX, one partition = one ``rsync --files-from``."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat

from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    Verification,
    source_vanished,
)

TEMP_DIR = ".datamover-tmp"
MIN_VERSION = (3, 1, 0)  # --from0 with --files-from, nanosecond mtimes


class RsyncTool:
    name = "rsync"
    min_version = MIN_VERSION

    def __init__(self, source, destination, options=(), binary="rsync", verify="size",
                 run_id=None):
        self.source = source.rstrip("/") + "/"
        self.destination = destination.rstrip("/") + "/"
        # rsync writes each file to a temp name and renames it. A killed rsync (lost host)
        # leaves its temp file behind, so temp files go to one directory of ours inside the
        # destination (same file system: the rename stays atomic), removed by cleanup().
        self.temp_root = os.path.join(self.destination, TEMP_DIR)
        self.temp_dir = os.path.join(self.temp_root, run_id) if run_id else None
        self.options = list(options or [])
        self.binary = binary
        self.verify_mode = verify

    def prepare(self, entries, workdir, part_list):
        """rsync reads the partition's own NUL-separated list: nothing to rewrite, nothing
        it cannot hold on a POSIX destination."""
        del entries, workdir
        return part_list, []

    def commands(self, list_path, workdir, retry=False):
        """argv lists for one partition. Never a shell string: names reach rsync through a
        NUL-separated list file, so nothing in a name can be interpreted."""
        del workdir, retry  # rsync skips what is already identical on its own
        argv = [self.binary, "-a", "--numeric-ids", "--from0", "--files-from=" + list_path,
                "--stats"]
        if self.temp_dir:
            os.makedirs(self.temp_dir, exist_ok=True)
            argv.append("--temp-dir=" + self.temp_dir)
        return [argv + self.options + ["--", self.source, self.destination]]

    def cleanup(self):
        """Remove the run's temp directory (and ours, when no other run uses it)."""
        if self.temp_dir and os.path.isdir(self.temp_dir):
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        try:
            os.rmdir(self.temp_root)
        except OSError:
            pass

    # a non-zero exit code that still moved what it could; verification decides
    soft_exit_codes = (24,)  # "some files vanished before they could be transferred"

    def verify(self, entries, list_path=None, log=None):
        """Compare every manifest entry with the destination by lstat (and content when
        verify == 'checksum'), independently of rsync's own bookkeeping."""
        del list_path, log
        result = Verification()
        src, dst = os.fsencode(self.source), os.fsencode(self.destination)
        for kind, size, mtime_ns, rel in entries:
            problem = self._check(src, dst, kind, size, mtime_ns, rel)
            if problem is None:
                if kind != "d":
                    result.files += 1
                    result.bytes += size
            elif source_vanished(self.source, rel):
                result.vanished.append(os.fsdecode(rel))
            else:
                result.mismatches.append([os.fsdecode(rel), problem])
        return result

    def _check(self, src, dst, kind, size, mtime_ns, rel):
        target = os.path.join(dst, rel)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return "missing at destination"
        if kind == "d":
            return None if stat.S_ISDIR(st.st_mode) else "not a directory at destination"
        if kind == "l":
            if not stat.S_ISLNK(st.st_mode):
                return "not a symlink at destination"
            try:
                expected = os.readlink(os.path.join(src, rel))
            except OSError:
                return "symlink no longer in the source"  # verify() calls it vanished
            return None if os.readlink(target) == expected else "symlink target differs"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file at destination"
        if st.st_size != size:
            return "size %d, expected %d" % (st.st_size, size)
        if abs(st.st_mtime_ns - mtime_ns) >= 1000000000:
            return "mtime differs"
        if self.verify_mode == "checksum" and _digest(target) != _digest(os.path.join(src, rel)):
            return "content differs"
        return None


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.digest()

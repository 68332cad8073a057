# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fpart engine: the real fpart binary crawls and packs; we publish its partitions.

fpart runs in live mode (-L) so partitions are closed during the crawl: when ``part.N+1``
appears, ``part.N`` is complete and is published at once. Paths come NUL-separated (-0), so
any name survives. Each path is lstat'ed for the manifest (size, mtime, kind).
"""
from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time

from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import (
    KIND_DIR,
    KIND_FILE,
    KIND_LINK,
    Entry,
    Excluder,
)
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError, ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    PartWriter,
    finish_plan,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools import find_binary


def fpart_argv(binary, max_files, max_bytes, excludes, outfile):
    argv = [binary, "-L", "-z", "-0", "-f", str(int(max_files)), "-s", str(int(max_bytes)),
            "-o", outfile]
    for pat in excludes or []:
        core = pat.rstrip("/")
        if "/" not in core:  # fpart matches names; path patterns are applied on ingest
            argv += ["-x", core]
    return argv + ["."]


def _excluded(excluder, rel, is_dir):
    parts = rel.split(b"/")
    for i in range(1, len(parts)):
        if excluder.excluded(b"/".join(parts[:i]), parts[i - 1], True):
            return True
    return excluder.excluded(rel, parts[-1], is_dir)


class _Ingest:
    def __init__(self, root, writer, excluder):
        self.root, self.writer, self.excluder = root, writer, excluder
        self.errors, self.skipped = [], []

    def part(self, path):
        with open(path, "rb") as handle:
            data = handle.read()
        for raw in data.split(b"\0"):
            if not raw:
                continue
            rel = raw[2:] if raw.startswith(b"./") else raw
            try:
                st = os.lstat(os.path.join(self.root, rel))
            except OSError as exc:
                self.errors.append((rel, exc.strerror or str(exc)))
                continue
            mode = st.st_mode
            if self.excluder and _excluded(self.excluder, rel, stat.S_ISDIR(mode)):
                continue
            if stat.S_ISREG(mode):
                self.writer.add(Entry(rel, KIND_FILE, st.st_size, st.st_mtime_ns))
            elif stat.S_ISLNK(mode):
                self.writer.add(Entry(rel, KIND_LINK, st.st_size, st.st_mtime_ns))
            elif stat.S_ISDIR(mode):
                self.writer.add(Entry(rel, KIND_DIR, 0, 0))
            else:
                self.skipped.append((rel, "special file (device, fifo or socket) not copied"))
        self.writer.close()  # fpart's partition boundaries are kept


def plan_fpart(rundir, source, max_files, max_bytes, excludes=(), binary=None, poll=0.2,
               fleet_slots=None):
    """fpart's partitions, each cut again where it passes the growing byte cap (ByteCap)."""
    started = time.time()
    try:
        binary = find_binary("fpart", binary)
    except ToolError as exc:
        raise PlanError("datamover_partition_engine=fpart: %s" % exc)
    writer = PartWriter(rundir, max_files, max_bytes, fleet_slots)
    ingest = _Ingest(os.fsencode(source), writer, Excluder(excludes))
    log_path = rundir.tool_log_path("fpart")
    with tempfile.TemporaryDirectory(prefix="fpart-", dir=rundir.scratch_dir()) as work:
        out = os.path.join(work, "part")
        with rundir.open_log(log_path) as log:
            proc = subprocess.Popen(fpart_argv(binary, max_files, max_bytes, excludes, out),
                                    cwd=source, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            n = 1
            while True:
                finished = proc.poll() is not None
                # part.N is complete once part.N+1 exists (or fpart has exited).
                while os.path.exists("%s.%d" % (out, n)) and (
                        finished or os.path.exists("%s.%d" % (out, n + 1))):
                    ingest.part("%s.%d" % (out, n))
                    n += 1
                if finished:
                    break
                time.sleep(poll)
        if proc.returncode != 0:
            raise PlanError("fpart exited with code %d (see %s)" % (proc.returncode, log_path))
    return finish_plan(rundir, writer, started, "fpart", ingest.errors, len(ingest.errors),
                       ingest.skipped, len(ingest.skipped))

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cut a stream of crawled entries into partitions and publish them in the run directory.

A partition is closed when adding the next entry would pass ``max_files`` entries or
``max_bytes`` bytes (a single file larger than ``max_bytes`` gets a partition of its own).
Each partition is published as soon as it is closed (live mode): its files are written first,
its ``state/todo`` marker last, so a worker never claims a partition that is not complete.
"""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_bytes,
    atomic_write_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import RunState


class PlanError(Exception):
    pass


class PartWriter:
    def __init__(self, rundir, max_files, max_bytes):
        if int(max_files) < 1 or int(max_bytes) < 1:
            raise PlanError("partition limits must be positive (files=%r, bytes=%r)"
                            % (max_files, max_bytes))
        self.rundir = rundir
        self.state = RunState(rundir)
        self.max_files, self.max_bytes = int(max_files), int(max_bytes)
        self.next_id = 1
        self.total_files = self.total_bytes = 0
        self.published = 0
        self._reset()

    def _reset(self):
        self.entries, self.files, self.bytes, self.largest = [], 0, 0, 0

    def add(self, entry):
        if self.entries and (len(self.entries) + 1 > self.max_files
                             or self.bytes + entry.size > self.max_bytes):
            self.close()
        self.entries.append(entry)
        self.bytes += entry.size
        self.largest = max(self.largest, entry.size)
        if entry.kind != "d":
            self.files += 1

    def close(self):
        """Publish the current partition (if any)."""
        if not self.entries:
            return None
        part_id = self.next_id
        self.next_id += 1
        rd = self.rundir
        # A resumed plan re-crawls a tree it already cut: existing partitions stay as they are.
        if not os.path.exists(rd.part_path(part_id, "json")):
            atomic_write_bytes(rd.part_path(part_id, "list"),
                               b"".join(e.path + b"\0" for e in self.entries))
            atomic_write_bytes(rd.part_path(part_id, "manifest"), b"".join(
                b"%s %d %d\t%s\0" % (e.kind.encode(), e.size, e.mtime_ns, e.path)
                for e in self.entries))
            atomic_write_json(rd.part_path(part_id, "json"), {
                "id": part_id, "entries": len(self.entries), "files": self.files,
                "bytes": self.bytes, "largest": self.largest})
        if self.state.add_todo(part_id):
            self.published += 1
        self.total_files += self.files
        self.total_bytes += self.bytes
        self._reset()
        return part_id


def plan_native(rundir, source, max_files, max_bytes, excludes=(), threads=8):
    started = time.time()
    writer = PartWriter(rundir, max_files, max_bytes)
    crawl = Crawl(source, excludes=excludes, threads=threads)
    for entry in crawl:
        writer.add(entry)
    writer.close()
    return _finish(rundir, writer, started, "native", crawl.errors, crawl.errors_count,
                   crawl.skipped, crawl.skipped_count)


def _finish(rundir, writer, started, engine, errors, error_count, skipped, skipped_count):
    plan = {
        "engine": engine,
        "parts": writer.next_id - 1,
        "files": writer.total_files,
        "bytes": writer.total_bytes,
        "seconds": round(time.time() - started, 3),
        "crawl_errors": error_count,
        "crawl_error_samples": [[os.fsdecode(p), why] for p, why in errors],
        "skipped": skipped_count,
        "skipped_samples": [[os.fsdecode(p), why] for p, why in skipped],
    }
    rundir.write_plan(plan)
    return plan

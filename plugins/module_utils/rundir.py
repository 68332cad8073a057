# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run directory: the one place where a migration's plan, state and results live.

Layout (all under ``<shared_dir>/<run_id>/``)::

    run.json                 what the run moves and how (immutable once written)
    plan.json                written when the crawl has finished: totals, crawl errors
    parts/NNNNNN.list        NUL-separated paths of one partition, relative to the source
    parts/NNNNNN.manifest    one record per entry: b"<kind> <size> <mtime_ns>\\t<path>\\0"
    parts/NNNNNN.json        files, bytes, largest file of the partition
    state/{todo,claimed,done,failed}/   see runstate.py
    results/NNNNNN.json      what the last attempt on a partition did
    workers/<host>.json      each worker's heartbeat and totals
    logs/NNNNNN.<attempt>.log  the transfer tool's output for each attempt
    report.json, report.md

The manifest records size and mtime for every entry so verification can compare the
destination with what was crawled, and so a later incremental run can move only what changed.
"""
from __future__ import annotations

import os
import re
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
    read_json,
)

FORMAT_VERSION = 1
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Changing any of these under a run id would mix two different migrations in one run directory.
IDENTITY_KEYS = ("source", "destination", "tool")
# These may change when a run is resumed (e.g. add --bwlimit for the night).
MUTABLE_KEYS = ("tool_options", "rclone_config", "verify", "symlinks")


class RunDirError(Exception):
    """A problem with the run directory a user can act on."""


def part_name(part_id):
    return "%06d" % int(part_id)


def new_run_id(now=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-%04x" % (os.getpid() & 0xFFFF)


class RunDir:
    SUBDIRS = ("parts", "state/todo", "state/claimed", "state/done", "state/failed",
               "results", "workers", "logs", "tmp")

    def __init__(self, shared_dir, run_id):
        if not RUN_ID_RE.match(run_id or ""):
            raise RunDirError(
                "run id %r is not usable: use 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit" % (run_id,))
        self.shared_dir = shared_dir
        self.run_id = run_id
        self.path = os.path.join(shared_dir, run_id)

    # paths -------------------------------------------------------------------------------
    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def part_path(self, part_id, ext):
        return self.p("parts", "%s.%s" % (part_name(part_id), ext))

    def log_path(self, part_id, attempt):
        return self.p("logs", "%s.%d.log" % (part_name(part_id), attempt))

    def result_path(self, part_id):
        return self.p("results", part_name(part_id) + ".json")

    # run.json ----------------------------------------------------------------------------
    def exists(self):
        return os.path.exists(self.p("run.json"))

    def load(self):
        meta = read_json(self.p("run.json"))
        if meta is None:
            raise RunDirError("%s has no run.json: it is not a datamover run directory "
                              "(wrong datamover_shared_dir or datamover_run_id?)" % self.path)
        return meta

    def create_or_check(self, meta):
        """Create the run (new id) or check that an existing run moves the same thing.

        Returns (meta, created).
        """
        if self.exists():
            old = self.load()
            for key in IDENTITY_KEYS:
                if old.get(key) != meta.get(key):
                    raise RunDirError(
                        "run id %r already belongs to a run with %s=%r (this one asks for %r). "
                        "Use a new datamover_run_id, or repeat the original %s to resume that run."
                        % (self.run_id, key, old.get(key), meta.get(key), key))
            changed = {k: meta[k] for k in MUTABLE_KEYS if k in meta and old.get(k) != meta[k]}
            if changed:
                old = dict(old, **changed)
                old.setdefault("changes", []).append(dict(
                    changed, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
                atomic_write_json(self.p("run.json"), old)
            return old, False
        os.makedirs(self.shared_dir, exist_ok=True)
        os.makedirs(self.path, exist_ok=True)
        for sub in self.SUBDIRS:
            os.makedirs(self.p(sub), exist_ok=True)
        meta = dict(meta, run_id=self.run_id, format=FORMAT_VERSION,
                    created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        # run.json last: its presence means the skeleton is complete.
        atomic_write_json(self.p("run.json"), meta)
        return meta, True

    # plan --------------------------------------------------------------------------------
    def plan(self):
        return read_json(self.p("plan.json"))

    def plan_complete(self):
        return os.path.exists(self.p("plan.json"))

    def write_plan(self, plan):
        atomic_write_json(self.p("plan.json"), plan)

    def part_info(self, part_id):
        return read_json(self.part_path(part_id, "json"))

    def read_manifest(self, part_id):
        """Yield (kind, size, mtime_ns, relpath_bytes) for each entry of a partition."""
        with open(self.part_path(part_id, "manifest"), "rb") as handle:
            data = handle.read()
        for record in data.split(b"\0"):
            if not record:
                continue
            head, dummy, path = record.partition(b"\t")
            kind, size, mtime_ns = head.split(b" ")
            yield kind.decode("ascii"), int(size), int(mtime_ns), path

    def stop_requested(self):
        return os.path.exists(self.p("STOP"))

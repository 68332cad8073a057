# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cut a stream of crawled entries into partitions and publish them in the run directory.

A partition is closed when adding the next entry would pass ``max_files`` entries or the byte
cap (a single file larger than the cap gets a partition of its own), or early, once 3/4 full,
when the next directory fits a partition of its own (see add_scan).

The byte cap grows (ByteCap): the first partitions hold at most FIRST_BYTES, later ones a share
of what the crawl has published so far, up to ``max_bytes``. The crawl is live and does not know
the tree's total, yet a tree of a few large files (an ML checkpoint) is cut in enough partitions
for every slot of the fleet, while a big tree soon reaches ``max_bytes`` and keeps its count of
partitions low. Small files are cut by ``max_files`` long before any byte cap.
Each partition is published as soon as it is closed (live mode): its manifest is written
first, its ``state/todo`` marker last, so a worker never claims a partition that is not
complete. The native crawl hands over whole directories of ready-made manifest records, and
those are cut in slices rather than one entry at a time.
"""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import (
    KIND_DIR,
    KIND_TREE,
    KIND_WHOLE_DIR,
    Crawl,
    manifest_record,
)
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState

__all__ = ["ByteCap", "PartWriter", "PlanError", "finish_plan", "plan_native", "root_dev"]

# The first partitions' byte cap: a tool start and a claim cost ~10 ms, 64 MiB takes a stream
# ~100 ms even on tmpfs, so the small early partitions cost little, and T1's 2,000-file
# partitions (9 MiB) are cut by their count as before.
FIRST_BYTES = 64 << 20
# Partitions per slot of the fleet that the bytes published so far would make: the cap is that
# share, so when the crawl ends the last partitions are about 1/(4 x slots) of the tree and the
# run's tail (one slot finishing its last partition while the others idle) stays short.
SHARES_PER_SLOT = 4
# A plan that is not told the fleet's size (the partition module on its own) assumes this many.
DEFAULT_FLEET_SLOTS = 8


class ByteCap:
    """The byte cap of the partition being filled: min(max_bytes, max(FIRST_BYTES, published /
    (SHARES_PER_SLOT x fleet_slots))). Deterministic for a tree (it depends only on what was
    published before), so a resumed plan cuts the same partitions again. fleet_slots None:
    the fixed cap ``max_bytes`` of runs created before it grew (their resume cuts as they did)."""

    def __init__(self, max_bytes, fleet_slots=None):
        self.max_bytes = int(max_bytes)
        self.shares = SHARES_PER_SLOT * max(1, int(fleet_slots)) if fleet_slots else None
        self.value = self.max_bytes if self.shares is None else min(self.max_bytes, FIRST_BYTES)

    def grow(self, published_bytes):
        if self.shares is not None:
            self.value = min(self.max_bytes, max(FIRST_BYTES, published_bytes // self.shares))


class PartWriter:
    # tick(): a partition still filling after this long is published as it is, so that
    # sparse changes (an incremental pass over a tree where little changed) start moving
    # while the crawl goes on instead of after it. The wait grows with the crawl (a tenth
    # of its time so far), so a crawl of hours makes few small partitions.
    FLUSH_MIN_SECONDS = 0.1
    FLUSH_SHARE = 0.1

    def __init__(self, rundir, max_files, max_bytes, fleet_slots=None, root_dev=None):
        no_fleet = fleet_slots is not None and int(fleet_slots) < 1
        if int(max_files) < 1 or int(max_bytes) < 1 or no_fleet:
            raise PlanError("partition limits must be positive (files=%r, bytes=%r, fleet "
                            "slots=%r)" % (max_files, max_bytes, fleet_slots))
        self.rundir = rundir
        self.state = RunState(rundir)
        self.max_files = int(max_files)
        self.cap = ByteCap(max_bytes, fleet_slots)
        self.next_id = 1
        self.total_files = self.total_bytes = 0
        self.published = 0
        self.started = time.monotonic()
        # Directories (with entries) of the partition being filled, in crawl order, and the
        # last one of the partition before it: what trees() needs. Only add_scan keeps them
        # (a whole crawl streams through it); add() turns them off.
        self.dirs, self.before = [], None
        self.track_dirs = True
        self._next_dir = None  # set while add_scan runs: the directory after a closed one
        # The directory being added and its identity (crawl.DirScan.ident): each partition
        # records the identity of every directory it moves from (rundir.write_dir_identities).
        self._ident = (None, None)
        self.root_dev = root_dev  # None: no identities recorded (the fpart engine)
        self._reset()

    def _reset(self):
        self.records, self.count, self.files, self.bytes = [], 0, 0, 0
        self.opened = None  # when the partition being filled got its first record
        self.idents = {}
        if self.dirs:
            self.before = self.dirs[-1]
        self.dirs = []

    def tick(self):
        """Publish the partition being filled if it has waited long enough (see above)."""
        if self.opened is None:
            return None
        now = time.monotonic()
        if now - self.opened >= max(self.FLUSH_MIN_SECONDS,
                                    (now - self.started) * self.FLUSH_SHARE):
            return self.close()
        return None

    def add(self, entry):
        """Add one Entry (the fpart engine's path)."""
        if self.count and (self.count + 1 > self.max_files
                           or self.bytes + entry.size > self.cap.value):
            self.close()
        if self.opened is None:
            self.opened = time.monotonic()
        self.track_dirs = False  # entries, not whole directories: no trees
        self.records.append(manifest_record(entry.kind, entry.size, entry.mtime_ns, entry.path))
        rel, ident = self._ident
        if ident is not None:
            where = entry.path if entry.kind == KIND_DIR else entry.path.rpartition(b"/")[0]
            if where == rel:
                self.idents[rel] = ident
        self.count += 1
        self.bytes += entry.size
        if entry.kind != KIND_DIR:
            self.files += 1

    def identify(self, rel, ident):
        """The entries added next from directory ``rel`` were listed from ``ident`` (an
        incremental pass adds a directory's changed entries one by one)."""
        self._ident = (rel, ident)

    def add_scan(self, scan):
        """Add a directory's records (native engine): whole slices while they fit."""
        self._next_dir = scan.rel
        self._ident = (scan.rel, getattr(scan, "ident", None))
        try:
            self._add_scan(scan)
        finally:
            self._next_dir = None

    def _add_scan(self, scan):
        records, sizes = scan.records, scan.sizes
        n, i, cap = len(records), 0, self.cap.value
        if self.opened is None and n:
            self.opened = time.monotonic()
        is_dir_marker = n == 1 and records[0][:1] == b"d"
        if scan.whole and n <= self.max_files:
            total = sum(sizes)
            if (total <= cap and self.count >= self.max_files * 3 // 4
                    and (self.count + n > self.max_files or self.bytes + total > cap)):
                # A directory that fits a partition of its own starts one rather than being
                # cut, once the current partition is 3/4 full: each directory then has one
                # owner, which an object store lists once (one LIST per directory) and rsync
                # walks (-r) instead of reading names.
                self.close()
                cap = self.cap.value  # closing grew it
            if self.count + n <= self.max_files and self.bytes + total <= cap:
                # The whole directory fits: say so, and rsync walks it instead of reading
                # one name per file (measured: 20% less per partition). Not an entry.
                self.records.append(manifest_record(KIND_WHOLE_DIR, 0, 0, scan.rel))
                self.records.extend(records)
                self._note_dir(scan.rel)
                self.count += n
                self.bytes += total
                self.files += n
                return
        while i < n:
            cap = self.cap.value  # each close() may have grown it
            room = self.max_files - self.count
            if room <= 0:
                self.close()
                continue
            j = min(n, i + room)
            chunk = sum(sizes[i:j])
            if self.bytes + chunk > cap:
                # The byte limit falls inside this slice: find where, entry by entry.
                j, chunk = i, 0
                while j < n and (self.bytes + chunk + sizes[j] <= cap
                                 or (self.count == 0 and j == i)):
                    chunk += sizes[j]
                    j += 1
                if j == i:
                    self.close()
                    continue
            self.records.extend(records[i:j])
            self._note_dir(scan.rel)
            self.count += j - i
            self.bytes += chunk
            if not is_dir_marker:
                self.files += j - i
            i = j

    def _note_dir(self, rel):
        if not self.dirs or self.dirs[-1] != rel:
            self.dirs.append(rel)
        if self._ident[0] == rel and self._ident[1] is not None:
            self.idents[rel] = self._ident[1]

    def trees(self, after):
        """Directories whose whole subtree (every directory under it that has entries) is in
        the partition being filled, ``after`` being the directory crawled right after it (None:
        the crawl is over). In crawl order a subtree is contiguous, so it is whole here when
        neither the directory before the partition nor the one after it lies in it. Each of
        the partition's directories is under at most one such tree (the topmost); an object
        store lists a tree in one flat listing (a request per 1,000 objects) instead of a
        request per directory."""
        if not self.track_dirs or not self.dirs:
            return []
        out = []
        for d in self.dirs:
            parts = d.split(b"/") if d else []
            k = max(_shared(parts, self.before), _shared(parts, after))
            if k + 1 > len(parts):
                continue  # the directory before or after is this one, or under it
            top = b"/".join(parts[:k + 1])
            if not out or out[-1] != top:
                out.append(top)
        return out

    def close(self):
        """Publish the current partition (if any)."""
        if not self.records:
            return None
        trees = self.trees(self._next_dir)
        if trees:
            self.records[:0] = [manifest_record(KIND_TREE, 0, 0, t) for t in trees]
        part_id = self.next_id
        self.next_id += 1
        rd = self.rundir
        # A resumed plan re-crawls a tree it already cut: existing partitions stay as they are.
        if not rd.has_manifest(part_id):
            if self.idents and self.root_dev is not None:
                rd.write_dir_identities(part_id, {rel: (dev == self.root_dev, ino) for rel, (
                    dev, ino) in self.idents.items()})
            rd.write_manifest(part_id, b"".join(self.records))
        if self.state.add_todo(part_id):
            self.published += 1
        self.total_files += self.files
        self.total_bytes += self.bytes
        self.cap.grow(self.total_bytes)
        self._reset()
        return part_id


def _shared(parts, other):
    """Leading path components ``parts`` shares with directory ``other`` (-1: no other)."""
    if other is None:
        return -1
    n = 0
    for a, b in zip(parts, other.split(b"/") if other else []):
        if a != b:
            break
        n += 1
    return n


def root_dev(source):
    """The source root's device, against which each directory's is recorded (a symlink
    given as the source is followed, as the crawl does)."""
    return os.stat(source).st_dev


def plan_native(rundir, source, max_files, max_bytes, excludes=(), threads=8, attrs=False,
                fleet_slots=None):
    """attrs: records carry mode/uid/gid (rsync keeps them), so that the first incremental
    pass after this run sees a chmod or chown, and finds unchanged directories byte for
    byte (incremental.Diff) instead of entry by entry."""
    started = time.time()
    writer = PartWriter(rundir, max_files, max_bytes, fleet_slots, root_dev=root_dev(source))
    special = rundir.stream_writer(rundir.special_path())
    crawl = Crawl(source, excludes=excludes, threads=threads, attrs=attrs,
                  on_skipped=lambda items: special.write(b"".join(i[0] + b"\0" for i in items)))
    try:
        for scan in crawl.scans():
            writer.add_scan(scan)
    except BaseException:
        special.abort()
        raise
    special.commit()
    writer.close()
    extra = dict(crawl.excluded_summary(), dirs=crawl.dirs_count, **({"attrs": True} if attrs else {}))
    return finish_plan(rundir, writer, started, "native", crawl.errors, crawl.errors_count,
                       crawl.skipped, crawl.skipped_count, extra=extra)


def finish_plan(rundir, writer, started, engine, errors, error_count, skipped, skipped_count,
                extra=None):
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
    plan.update(extra or {})
    rundir.write_plan(plan)
    return plan

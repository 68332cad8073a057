# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incremental runs (``datamover_since``): plan only what changed since a previous run, and
find what was deleted, from the manifests alone: never a listing of the destination.

Order, not memory: a manifest is in the native crawl's order (directories depth first with
names in byte order, a directory's own entries before its subdirectories), so the previous
run's complete manifest is read as a stream of directory groups beside this run's crawl, in
lockstep, like a merge of two sorted files. Memory holds one directory of the previous run at
a time, never the tree: a 100-million-entry source has a manifest of about 10 GB.

Compared per entry: the record's head as bytes (kind, size, mtime, and for rsync mode, uid and
gid), so an unchanged entry costs one dict lookup and no request anywhere. A renamed
directory is its new name copied and its old name deleted; the report says which deleted and
new directories hold the same names and sizes (a rename, most likely).
"""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import MARKER_KINDS, Entry
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl_split import split_crawl
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError, RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
    identity_problem,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir, iter_records, pass_kind
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    PartWriter,
    finish_plan,
    root_dev,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.work.mirror import apply_mirror, mirror_refusals

__all__ = ["Diff", "ManifestOrderError", "PlanError", "dir_groups", "dir_key", "plan_incremental",
           "plan_since", "previous_run", "since_problems"]

SAMPLES = 50
RENAME_CANDIDATES = 10000  # directories kept for rename detection (a signature each)
# Entries of the previous run's unfinished partitions are held in memory (a set of paths):
# beyond this many, resuming that run costs less than an incremental pass from it.
RETRY_LIMIT = 1000000


class ManifestOrderError(PlanError):
    """A previous manifest is not in crawl order (fpart engine, or not a manifest)."""


def dir_key(rel):
    """Sort key of a directory in crawl order: its path's components."""
    return tuple(rel.split(b"/")) if rel else ()


def _split_record(record):
    """(head, dir, name) of a manifest record. An empty-directory record ("d") is an entry of
    its own directory, under the name b""."""
    head, _tab, path = record.partition(b"\t")
    if head[:1] == b"d":
        return head, path, b""
    d, _sep, name = path.rpartition(b"/")
    return head, d, name


def dir_groups(records, where="the previous run's manifest"):
    """Yield (key, dir, {name: head}) for each directory of a manifest stream, in order.

    An empty-directory record ("d") is its own directory's group, under the name b"". "D" and
    "T" records (a partition's markers) are not entries and are skipped.
    """
    cur_dir, group, last_key = None, None, None
    for record in records:
        if record[:1] in MARKER_KINDS:
            continue
        head, d, name = _split_record(record)
        if d != cur_dir:
            if group is not None:
                yield last_key, cur_dir, group
            key = dir_key(d)
            if last_key is not None and key <= last_key:
                raise _order_error(where, d, cur_dir)
            cur_dir, group, last_key = d, {}, key
        group[name] = head
    if group is not None:
        yield last_key, cur_dir, group


def _order_error(where, d, before):
    return ManifestOrderError(
        "%s is not in crawl order (%r comes after %r): it was not written by the native crawl "
        "(the fpart engine lists in its own order). Start the chain with a full run planned "
        "by the native engine (datamover_partition_engine=native), then pass its id as "
        "datamover_since" % (where, os.fsdecode(d), os.fsdecode(before)))


def merge_groups(first, second):
    """Merge two streams of dir_groups (both in crawl order) into one: a run's complete
    manifest and the deletions it only reported, which are still at the destination."""
    a, b = next(first, None), next(second, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            yield a
            a = next(first, None)
        elif a is None or b[0] < a[0]:
            yield b
            b = next(second, None)
        else:
            merged = dict(b[2])
            merged.update(a[2])
            yield a[0], a[1], merged
            a, b = next(first, None), next(second, None)


def _head3(head):
    """kind, size, mtime of a head that may also carry mode/uid/gid."""
    return b" ".join(head.split(b" ", 3)[:3])


def _join(d, name):
    if not name:
        return d
    return d + b"/" + name if d else name


def _signature(pairs):
    return hash(frozenset(pairs))


class PrevStream:
    """The previous run's complete manifest as one byte stream, read in chunks. The diff
    consumes it a directory at a time, either without parsing (``take_identical``: the
    directory is unchanged) or record by record (``group``)."""

    CHUNK = 1 << 20

    def __init__(self, paths):
        self._paths = iter(paths)
        self._handle = None
        self.buf, self.pos = b"", 0

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _fill(self, need):
        """Hold at least ``need`` bytes after pos, unless the stream ends first."""
        have = len(self.buf) - self.pos
        if have >= need:
            return True
        parts = [self.buf[self.pos:]]
        while have < need:
            if self._handle is None:
                path = next(self._paths, None)
                if path is None:
                    break
                self._handle = open(path, "rb")
            data = self._handle.read(max(self.CHUNK, need - have))
            if not data:
                self.close()
                continue
            parts.append(data)
            have += len(data)
        self.buf, self.pos = b"".join(parts), 0
        return have >= need

    def _next_record(self):
        """(record, end) of the record at pos, end being where the next one starts; None at
        the end of the stream. "D" and "T" records (a partition's markers, not entries) are
        stepped over."""
        while True:
            end = self.buf.find(b"\0", self.pos)
            while end < 0:
                more = self._fill(len(self.buf) - self.pos + self.CHUNK)
                end = self.buf.find(b"\0", self.pos)
                if end < 0 and not more:
                    if self.pos >= len(self.buf):
                        return None
                    end = len(self.buf)  # a last record without its NUL
                    break
            record = self.buf[self.pos:end]
            if record and not record.startswith(_MARKERS):
                return record, end + 1
            self.pos = end + 1

    def take_identical(self, rel, blob):
        """Consume the next directory group if its records are ``blob`` byte for byte (the
        crawl's records of directory ``rel``, in the same format) and nothing more."""
        more = self._fill(len(blob) + _LOOKAHEAD)  # the group and the record after it
        buf = self.buf
        at = _after_markers(buf, self.pos)
        if at < 0 or not buf.startswith(blob, at):
            return False
        nxt = _after_markers(buf, at + len(blob))
        if nxt < 0 and more:
            return False  # markers beyond the look-ahead: no telling, entry by entry
        if nxt >= 0:
            end = buf.find(b"\0", nxt)
            head, d, _name = _split_record(buf[nxt:end if end >= 0 else len(buf)])
            if head[:1] != b"d" and d == rel:
                return False  # the previous run had more here: entry by entry
        self.pos = at + len(blob)
        return True

    def group(self):
        """(dir, {name: head}) of the next directory group, parsed; None at the end. Only
        that group's records are consumed."""
        first = self._next_record()
        if first is None:
            return None
        cur, group = None, {}
        while first is not None:
            record, end = first
            head, d, name = _split_record(record)
            if cur is None:
                cur = d
            elif d != cur:
                break
            group[name] = head
            self.pos = end
            if not name:
                break  # an empty directory's record is a group of its own
            first = self._next_record()
        return cur, group


_UNLOADED = object()
_MARKERS = tuple(kind + b" " for kind in MARKER_KINDS)
# Bytes beyond a directory's records that hold the next record whole, with a marker before
# it (a record is at most PATH_MAX plus its head); more markers than that: see take_identical.
_LOOKAHEAD = 16384


def _after_markers(buf, pos):
    """Where the first record at or after ``pos`` that is not a "D" or "T" marker starts (-1:
    the buffer ends first)."""
    while buf.startswith(_MARKERS, pos):
        end = buf.find(b"\0", pos)
        if end < 0:
            return -1
        pos = end + 1
    return pos if pos < len(buf) else -1


class Diff:
    """Compare the crawl, one directory at a time, with the previous complete manifest.

    ``compare(rel, records)`` returns the records to move (new or changed); deletions go to
    ``on_delete(record)`` in the previous manifest's order as soon as they are certain.
    ``strip``: the previous manifest has no mode/uid/gid (a full run) while this crawl's
    records do: compare kind, size and mtime only. ``retry``: paths the previous run did not
    settle as done: moved again whatever their records say.
    ``stream``: the previous manifest as a PrevStream instead of ``previous_records``; then a
    directory whose records are the same bytes as the crawl's is passed over unparsed (the
    common case of a catch-up pass: most directories did not change).
    """

    def __init__(self, previous_records, on_delete, strip=False, retry=frozenset(),
                 pending=None, stream=None):
        self.stream = stream
        if stream is None:
            self.groups = dir_groups(previous_records)
            if pending is not None:
                self.groups = merge_groups(self.groups, dir_groups(pending, "a deletions list"))
        elif pending is not None:
            raise ValueError("a PrevStream diff merges no deletions list")
        # Byte comparison needs the same record format on both sides, and no path that
        # must move whatever its record says.
        self.fast = stream is not None and not strip and not retry
        self._last = None  # (key, dir) of the last group read from the stream
        self.prev = _UNLOADED
        self.prev_matched = False
        self.on_delete = on_delete
        self.strip = strip
        self.retry = retry
        self.counts = {"unchanged": 0, "new": 0, "changed": 0, "deleted": 0,
                       "new_bytes": 0, "changed_bytes": 0, "deleted_bytes": 0,
                       "previous": 0, "retried": 0}
        self.samples = {"new": [], "changed": [], "deleted": []}
        self.gone_dirs, self.new_dirs = {}, {}

    # the previous manifest's side ---------------------------------------------------------
    def _settle_prev(self):
        """The current previous group is behind the crawl: what is left in it is gone."""
        _key, d, group = self.prev
        counts = self.counts
        if self.prev_matched:
            group.pop(b"", None)  # an empty-directory marker of a directory that still exists
        elif group and b"" not in group and len(self.gone_dirs) < RENAME_CANDIDATES:
            self.gone_dirs.setdefault(
                _signature((n, h.split(b" ", 2)[1]) for n, h in group.items()), d)
        counts["previous"] += len(group)
        for name, head in group.items():
            path = _join(d, name)
            counts["deleted"] += 1
            size = int(head.split(b" ", 2)[1])
            counts["deleted_bytes"] += size
            if len(self.samples["deleted"]) < SAMPLES:
                self.samples["deleted"].append(os.fsdecode(path))
            self.on_delete(head + b"\t" + path + b"\0")
        self.prev = _UNLOADED
        self.prev_matched = False

    def _peek(self):
        """The previous run's current directory group (loaded on demand), None at its end."""
        if self.prev is _UNLOADED:
            if self.stream is None:
                self.prev = next(self.groups, None)
            else:
                got = self.stream.group()
                self.prev = None
                if got is not None:
                    d, group = got
                    key = dir_key(d)
                    if self._last is not None and key <= self._last[0]:
                        raise _order_error("the previous run's manifest", d, self._last[1])
                    self._last = (key, d)
                    self.prev = (key, d, group)
        return self.prev

    def _advance(self, key):
        while self._peek() is not None and self.prev[0] < key:
            self._settle_prev()

    # the crawl's side ---------------------------------------------------------------------
    def compare(self, rel, records, blob=None):
        """``blob``: b"".join(records), when the caller has it already."""
        key = dir_key(rel)
        counts, samples = self.counts, self.samples
        if self.fast and self.prev is not _UNLOADED and self.prev is not None \
                and self.prev[0] < key:
            self._settle_prev()  # the group the last compare matched: what is left is gone
        if self.fast and self.prev is _UNLOADED and records:
            if self.stream.take_identical(rel, b"".join(records) if blob is None else blob):
                counts["unchanged"] += len(records)
                counts["previous"] += len(records)
                self._last = (key, rel)
                return []
        self._advance(key)
        if self.prev is None or self.prev[0] != key:
            if records and records[0][:1] != b"d" and len(self.new_dirs) < RENAME_CANDIDATES:
                pairs = []
                for rec in records:
                    head, _tab, path = rec.partition(b"\t")
                    pairs.append((path[:-1].rpartition(b"/")[2], head.split(b" ", 2)[1]))
                self.new_dirs.setdefault(_signature(pairs), rel)
            self._count_new(records)
            return records
        self.prev_matched = True
        old = self.prev[2]
        cut = len(rel) + 1 if rel else 0
        strip, retry = self.strip, self.retry
        moved = []
        before = len(old)
        # crawl records end with their NUL: path[:-1] is the path
        for rec in records:
            head, _tab, path = rec.partition(b"\t")
            name = path[cut:-1] if head[:1] != b"d" else b""
            was = old.pop(name, None)
            if was is None:
                moved.append(rec)
                counts["new"] += 1
                counts["new_bytes"] += int(head.split(b" ", 2)[1])
                if len(samples["new"]) < SAMPLES:
                    samples["new"].append(os.fsdecode(path[:-1]))
            elif (was != head and (not strip or was != _head3(head))) or \
                    (retry and path[:-1] in retry):
                moved.append(rec)
                counts["changed"] += 1
                counts["changed_bytes"] += int(head.split(b" ", 2)[1])
                if retry and path[:-1] in retry:
                    counts["retried"] += 1
                if len(samples["changed"]) < SAMPLES:
                    samples["changed"].append(os.fsdecode(path[:-1]))
            else:
                counts["unchanged"] += 1
        counts["previous"] += before - len(old)
        return moved

    def _count_new(self, records):
        counts, samples = self.counts, self.samples
        for rec in records:
            head, _tab, path = rec.partition(b"\t")
            counts["new"] += 1
            counts["new_bytes"] += int(head.split(b" ", 2)[1])
            if len(samples["new"]) < SAMPLES:
                samples["new"].append(os.fsdecode(path[:-1]))

    def finish(self):
        """The crawl is over: every previous group not seen is gone. Returns the summary."""
        while self._peek() is not None:
            self._settle_prev()
        renames = [[os.fsdecode(self.gone_dirs[sig]), os.fsdecode(d)]
                   for sig, d in self.new_dirs.items() if sig in self.gone_dirs]
        renames.sort()
        return dict(self.counts, samples=self.samples, renamed_dirs=len(renames),
                    renamed_dir_samples=renames[:SAMPLES])


# --- the previous run ----------------------------------------------------------------------
class Previous:
    """What an incremental run needs of the run it follows."""

    def __init__(self, rundir, meta, plan, not_done, retry):
        self.rundir, self.meta, self.plan = rundir, meta, plan
        self.not_done, self.retry = not_done, retry

    @property
    def succeeded(self):
        return not self.not_done

    @property
    def attrs(self):
        return bool(self.plan.get("attrs") or (self.plan.get("incremental") or {}).get("attrs"))

    def records(self):
        return iter_records(self.rundir.complete_manifest_files())

    def stream(self):
        return PrevStream(self.rundir.complete_manifest_files())

    def pending(self):
        """Deletions the previous run found and only reported: still at the destination, so
        still to delete (a chain of catch-up passes, then one mirror pass)."""
        inc = self.plan.get("incremental") or {}
        if not inc or (inc.get("mirror") or {}).get("requested"):
            return None  # a full run, or a mirror that deleted its whole list
        path = self.rundir.deletions_path()
        if not os.path.getsize(path):
            return None
        return iter_records([path])


def since_problems(rundir, meta):
    """Why ``datamover_since`` cannot be followed, as sentences (empty: it can, or there is no
    since): preflight and open_run refuse with them before anything is written, so a refused
    incremental run leaves no run directory behind to poison its run id."""
    if not meta.get("since"):
        return []
    try:
        _previous_dir(rundir, meta)
    except (PlanError, RunDirError) as exc:
        return [str(exc)]
    return []


def _previous_dir(rundir, meta):
    """(prev RunDir, its run.json, its plan) after the checks that read no manifest."""
    since = meta.get("since")
    if since == rundir.run_id:
        raise PlanError("datamover_since names this run itself (%s): give the id of the run "
                        "this one follows" % since)
    prev = RunDir(rundir.shared_dir, since)
    if not prev.exists():
        raise PlanError("datamover_since=%s: no such run in %s (see the run ids there; an "
                        "incremental run follows a run of the same migration)"
                        % (since, rundir.shared_dir))
    old = prev.load()
    for key in ("source", "destination", "tool"):
        if old.get(key) != meta.get(key):
            raise PlanError("datamover_since=%s moved %s to %s with %s; this run moves %s to %s "
                            "with %s: an incremental run follows a run of the same migration"
                            % (since, old.get("source"), old.get("destination"), old.get("tool"),
                               meta.get("source"), meta.get("destination"), meta.get("tool")))
    if pass_kind(old) == "plan-only":
        raise PlanError("datamover_since=%s is a plan-only pass: it moved nothing, so the "
                        "destination holds none of its plan; follow the last migration of "
                        "this source instead" % since)
    plan = prev.plan()
    if plan is None:
        raise PlanError("datamover_since=%s never finished planning (no plan.json): resume it "
                        "(same datamover_run_id) until it succeeds, or follow an earlier run"
                        % since)
    if plan.get("engine") == "fpart" and not os.path.exists(prev.source_manifest_path()):
        raise PlanError("datamover_since=%s was planned by the fpart engine, whose manifest is "
                        "not in crawl order: start the chain with a full run planned by the "
                        "native engine (datamover_partition_engine=native)" % since)
    missing = [p for p in prev.complete_manifest_files() if not os.path.exists(p)]
    if missing:
        raise PlanError("datamover_since=%s: its manifest %s is missing, so what it moved is "
                        "unknown: follow another run, or start over with a full run"
                        % (since, missing[0]))
    return prev, old, plan


def previous_run(rundir, meta):
    """Open and check the run named by ``since``; raise PlanError saying what to do."""
    since = meta.get("since")
    prev, old, plan = _previous_dir(rundir, meta)
    _same_source(rundir, prev, meta, plan)
    done = set(RunState(prev).ids("done"))
    not_done = [i for i in range(1, int(plan.get("parts") or 0) + 1) if i not in done]
    # Entries of partitions the previous run did not finish may not be at the destination:
    # move them again. Only those partitions are read (a failed run has few).
    retry = set()
    for part in not_done:
        retry.update(e[3] for e in prev.read_manifest(part))
        if len(retry) > RETRY_LIMIT:
            raise PlanError("datamover_since=%s left %d of its %s partitions unfinished (more "
                            "than %d entries): resume it first (its datamover_run_id), then "
                            "start the incremental pass from it"
                            % (since, len(not_done), plan.get("parts"), RETRY_LIMIT))
    return Previous(prev, old, plan, not_done, frozenset(retry))


def _same_source(rundir, prev, meta, plan):
    """An incremental pass over an unmounted file system would find every file deleted: it
    must be the directory the previous run crawled, and not empty where that one had files."""
    before, now = prev.source_identity(), rundir.source_identity()
    if before and now:
        problem = identity_problem(
            dict(before, dev_num=None), dict(now, dev_num=None),
            what="the directory datamover_since=%s planned from" % prev.run_id)
        if problem:
            raise PlanError(problem)
    try:
        empty = not os.listdir(meta["source"])
    except OSError as exc:
        raise PlanError("the source %s cannot be listed (%s): is it mounted?"
                        % (meta["source"], exc.strerror))
    if empty and int(plan.get("files") or 0) > 0:
        raise PlanError(
            "the source %s is empty, and datamover_since=%s planned %d files from it: is the "
            "file system mounted? Nothing was planned (an incremental pass would find every "
            "file deleted). Mount it and run the same command again; if the source was "
            "emptied on purpose, clear the destination yourself"
            % (meta["source"], prev.run_id, int(plan.get("files"))))


# --- the plan of an incremental run --------------------------------------------------------
def plan_incremental(rundir, meta, writer, threads=8):
    """Crawl, diff against the previous run, hand what changed to ``writer`` (a PartWriter),
    and write this run's complete manifest and its deletions. Returns (crawl, summary)."""
    started = time.time()
    previous = previous_run(rundir, meta)
    attrs = meta["tool"] == "rsync"
    # Two processes: an incremental pass is little more than its crawl (crawl_split.py).
    crawl = split_crawl(meta["source"], excludes=meta.get("excludes") or [], threads=threads,
                        attrs=attrs, tmpdir=rundir.scratch_dir())
    complete = rundir.stream_writer(rundir.source_manifest_path())
    deletions = rundir.stream_writer(rundir.deletions_path())
    try:
        pending = previous.pending()
        # Without pending deletions the previous manifest is streamed (Diff's fast path).
        prev, how = (None, dict(stream=previous.stream())) if pending is None else (
            previous.records(), dict(pending=pending))
        diff = Diff(prev, deletions.write, strip=attrs and not previous.attrs,
                    retry=previous.retry, **how)
        write, add, compare, tick = complete.write, writer.add, diff.compare, writer.tick
        for scan in crawl.scans():
            records = scan.records
            blob = b"".join(records)
            write(blob)
            writer.identify(scan.rel, scan.ident)  # the directory its entries come from
            for rec in compare(scan.rel, records, blob):
                head, _tab, path = rec.rstrip(b"\0").partition(b"\t")
                kind, size, mtime_ns = head.split(b" ", 3)[:3]
                add(Entry(path, kind.decode("ascii"), int(size), int(mtime_ns)))
            tick()  # what changed so far moves while the crawl goes on
        writer.close()
        summary = diff.finish()
    except BaseException:
        complete.abort()
        deletions.abort()
        raise
    deletions.commit()
    summary.update(since=previous.rundir.run_id, attrs=attrs,
                   previous_succeeded=previous.succeeded,
                   previous_not_done=previous.not_done[:SAMPLES],
                   diff_seconds=round(time.time() - started, 3),
                   deletions_file=rundir.deletions_path())
    # a plan-only pass deletes nothing: it says what a mirror would delete, and whether the
    # guards would let it
    mirror = {"requested": bool(meta.get("mirror")) and not meta.get("plan_only"),
              "applied": 0, "refused": None}
    if mirror["requested"]:
        refusals = mirror_refusals(summary, meta, previous, crawl.errors_count)
        if refusals:
            complete.abort()
            raise PlanError("mirror refused, nothing deleted: %s" % "; ".join(refusals))
        mirror.update(apply_mirror(rundir, meta))
    else:
        mirror["would_delete"] = summary["deleted"]
        mirror["refusals_if_requested"] = mirror_refusals(summary, meta, previous,
                                                          crawl.errors_count)
    summary["mirror"] = mirror
    # Last: its presence says this run's manifest is complete, so a next pass can follow it.
    complete.commit()
    return crawl, summary


def plan_since(rundir, meta, threads=8):
    """The plan step of an incremental run: partitions of what changed, plan.json with the
    diff's summary under "incremental"."""
    started = time.time()
    part = meta["partitioning"]
    writer = PartWriter(rundir, part["files"], part["bytes"], part.get("fleet_slots"),
                        root_dev=root_dev(meta["source"]))
    crawl, summary = plan_incremental(rundir, meta, writer, threads=threads)
    return finish_plan(rundir, writer, started, "native", crawl.errors, crawl.errors_count,
                       crawl.skipped, crawl.skipped_count,
                       extra=dict(crawl.excluded_summary(), incremental=summary,
                                  dirs=crawl.dirs_count))

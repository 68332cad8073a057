# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Native crawler: a streaming, deterministic walk of a source tree, one directory at a time.

Determinism: directories are visited depth first with names in byte order, so the same tree
always yields the same sequence (and so the same partitions). Directories larger than
``sort_limit`` entries are streamed in readdir order instead of sorted, which is still stable
for an unchanged directory and keeps memory bounded.

Speed: the walk hands out whole directories (``DirScan``) whose manifest records are already
formatted, so the partitioner works per directory, not per entry; per entry there is one
lstat and one formatted record, nothing else (fpart's pace on a local file system).

Parallelism: on NFS/Lustre a crawl waits on readdir/lstat round trips, which release the GIL;
there, listing the next sibling directories in a thread pool ahead of the consumer pays. On a
fast local file system the same threads only fight over the GIL (measured: twice slower on
tmpfs), so the crawl starts inline and turns the look-ahead on once entries prove slow
(``slow_entry_us``). The output order is the same either way.

Memory: at most ``lookahead`` listings per level of the current path are held, never the tree.
"""
from __future__ import annotations

import fnmatch
import os
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from operator import attrgetter
from stat import S_ISDIR, S_ISLNK, S_ISREG

Entry = namedtuple("Entry", "path kind size mtime_ns")  # path: bytes relative to the root
KIND_FILE, KIND_LINK, KIND_DIR = "f", "l", "d"
# Not an entry: marks a directory whose entries (the records that follow) are all of it.
KIND_WHOLE_DIR = "D"
# Not an entry: a directory whose whole subtree is in the partition (partitioner.trees).
KIND_TREE = "T"
MARKER_KINDS = (b"D", b"T")
SPECIAL = "special file (device, fifo or socket) not copied"
_NAME = attrgetter("name")


def manifest_record(kind, size, mtime_ns, path):
    """One manifest entry: b"<kind> <size> <mtime_ns>\\t<path>\\0" (see rundir.read_manifest)."""
    return b"%s %d %d\t%s\0" % (kind.encode("ascii"), size, mtime_ns, path)


def parse_record(record):
    """The inverse of manifest_record (without the trailing NUL)."""
    head, _tab, path = record.rstrip(b"\0").partition(b"\t")
    kind, size, mtime_ns = head.split(b" ")[:3]  # [3:] are an incremental run's mode/uid/gid
    return Entry(path, kind.decode("ascii"), int(size), int(mtime_ns))


class Excluder:
    """fnmatch patterns: without '/' they match a name at any depth, with '/' the relative path.

    A trailing '/' restricts the pattern to directories (as rsync does).
    """

    def __init__(self, patterns):
        self.name_pats, self.path_pats = [], []
        for pat in patterns or []:
            dir_only = pat.endswith("/")
            core = os.fsencode(pat.rstrip("/"))
            if b"/" in core:
                self.path_pats.append((core.lstrip(b"/"), dir_only))
            else:
                self.name_pats.append((core, dir_only))

    def __bool__(self):
        return bool(self.name_pats or self.path_pats)

    def excluded(self, relpath, name, is_dir):
        for pat, dir_only in self.name_pats:
            if (is_dir or not dir_only) and fnmatch.fnmatchcase(name, pat):
                return True
        for pat, dir_only in self.path_pats:
            if (is_dir or not dir_only) and fnmatch.fnmatchcase(relpath, pat):
                return True
        return False


class DirScan:
    """One directory's non-directory entries, as manifest records in output order."""

    __slots__ = ("rel", "records", "sizes", "subdirs", "errors", "skipped", "rest", "empty",
                 "seconds", "excluded", "ident")

    def __init__(self, rel):
        self.rel = rel
        self.records, self.sizes = [], []   # parallel lists
        self.subdirs, self.errors, self.skipped = [], [], []
        self.rest = None  # an open scandir iterator when the directory was too large to sort
        self.empty = True
        self.seconds = 0.0
        # what datamover_excludes left out of the plan (relpaths): counted in the report
        self.excluded = []
        # (st_dev, st_ino) of the directory listed: the worker checks, before it moves and
        # when it verifies, that the path still names this directory (source_guard.py)
        self.ident = None

    @property
    def whole(self):
        """Everything in this directory is in ``records``: no subdirectory, nothing excluded,
        unreadable or special. A tool may then copy the directory as one unit."""
        return bool(self.rel and self.records and not self.subdirs and not self.errors
                    and not self.skipped and not self.excluded and self.rest is None
                    and not self.empty)

    def entries(self):
        return [parse_record(r) for r in self.records]


def _classify(batch, prefix, scan, excluder, fd, attrs=False):
    """lstat each DirEntry of ``batch`` (in directory ``fd``) and file it into ``scan`` (the
    per-entry hot loop). With ``attrs`` (rsync), records also carry mode, uid and gid
    (b"<kind> <size> <mtime_ns> <mode> <uid> <gid>\\t<path>\\0"), so a chmod or chown shows
    as a change in the next incremental pass."""
    records, sizes, subdirs = scan.records, scan.sizes, scan.subdirs
    lstat = os.stat
    excluder = excluder or None  # one __bool__ per directory, not one per entry
    for entry in batch:
        name = entry.name
        try:
            st = lstat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            scan.errors.append((prefix + name, exc.strerror or str(exc)))
            continue
        mode = st.st_mode
        if S_ISDIR(mode):
            if excluder and excluder.excluded(prefix + name, name, True):
                scan.excluded.append(prefix + name)
            else:
                subdirs.append(prefix + name)
            continue
        if excluder and excluder.excluded(prefix + name, name, False):
            scan.excluded.append(prefix + name)
            continue
        if S_ISREG(mode):
            kind = b"f"
        elif S_ISLNK(mode):
            kind = b"l"
        else:
            scan.skipped.append((prefix + name, SPECIAL))
            continue
        size = st.st_size
        if attrs:
            records.append(b"%s %d %d %o %d %d\t%s%s\0" % (
                kind, size, st.st_mtime_ns, mode & 0o7777, st.st_uid, st.st_gid, prefix, name))
        else:
            records.append(b"%s %d %d\t%s%s\0" % (kind, size, st.st_mtime_ns, prefix, name))
        sizes.append(size)


def _classify_attrs(batch, prefix, scan, excluder, fd):
    _classify(batch, prefix, scan, excluder, fd, attrs=True)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class _Rest:
    """The rest of a directory too large to sort, with the descriptor its entries are
    lstat'ed through; both close together."""

    def __init__(self, it, fd):
        self.it, self.fd = it, fd

    def __iter__(self):
        return iter(self.it)

    def close(self):
        self.it.close()
        os.close(self.fd)


def _scan(root, rel, excluder, sort_limit, classify=_classify):
    started = time.monotonic()
    scan = DirScan(rel)
    # Each entry is lstat'ed through a descriptor of its directory: an fstatat of the bare
    # name, not a walk of the whole path from the root (measured: 17% less CPU per entry).
    path = root + b"/" + rel if rel else root
    fd = None
    try:
        fd = os.open(path, _DIR_FLAGS)
        st = os.fstat(fd)  # the directory opened (O_NOFOLLOW): one call per directory
        scan.ident = (st.st_dev, st.st_ino)
        it = os.scandir(path)
    except OSError as exc:
        if fd is not None:
            os.close(fd)
        scan.errors.append((rel or b".", exc.strerror or str(exc)))
        scan.empty = False
        return scan
    try:
        batch = list(islice(it, sort_limit))
        if len(batch) >= sort_limit:
            scan.rest = _Rest(it, fd)  # streamed by the consumer, in readdir order
        else:
            batch.sort(key=_NAME)  # the listing is complete: closed below
        scan.empty = not batch
        classify(batch, rel + b"/" if rel else b"", scan, excluder, fd)
    finally:
        if scan.rest is None:
            it.close()
            os.close(fd)
    scan.subdirs.sort()
    scan.seconds = time.monotonic() - started
    return scan


class Crawl:
    """Walk a tree. ``scans()`` yields one DirScan per directory (the fast path the planner
    uses); iterating yields Entry tuples. After the walk, ``errors`` and ``skipped`` hold
    (relpath, reason) pairs for what could not be read or is not copied (capped)."""

    MAX_KEPT = 1000

    def __init__(self, root, excludes=(), threads=8, lookahead=32, sort_limit=100000,
                 slow_entry_us=20.0, attrs=False, roots=None, split=None, on_skipped=None):
        self.root = os.fsencode(root).rstrip(b"/") or b"/"
        # on_skipped: called with every batch of (relpath, reason) not copied (special files),
        # uncapped, so the run can name each one (RunDir.special_path)
        self.on_skipped = on_skipped
        self.excludes = list(excludes or [])
        self.attrs = attrs
        # roots: walk only these subdirectories (relpaths, in crawl order), not the root.
        # split: called with the root's subdirectories, returns those this process walks;
        #   its rest() yields the scans of the others afterwards (crawl_split.ForkedHalf).
        self.roots, self.split = roots, split
        self.excluder = Excluder(excludes)
        self.threads = max(1, int(threads))
        self.lookahead = max(1, int(lookahead))
        self.sort_limit = max(1, int(sort_limit))
        # Per-entry scan time above which the file system is latency-bound (NFS, Lustre) and
        # listing ahead in threads pays; 0 turns the look-ahead on from the start.
        self.slow_entry_us = float(slow_entry_us)
        self._slow_streak = 0
        self.errors, self.skipped, self.excluded = [], [], []
        self.errors_count = self.skipped_count = self.excluded_count = 0
        self.dirs_count = 0  # directories listed (the plan-only report's count)
        self.lookahead_used = False
        # attrs: records carry mode/uid/gid too (incremental runs of rsync, see _classify_attrs)
        self._classify = _classify_attrs if attrs else _classify

    def __iter__(self):
        for scan in self.scans():
            yield from scan.entries()

    def excluded_summary(self):
        """plan.json's count and samples of what datamover_excludes left out (an excluded
        directory counts once: its content is never listed)."""
        return {"excluded": self.excluded_count,
                "excluded_samples": [os.fsdecode(p) for p in self.excluded[:50]]}

    def _note(self, scan):
        for kind, items in (("errors", scan.errors), ("skipped", scan.skipped),
                            ("excluded", scan.excluded)):
            if items:
                self.note(kind, items, len(items))

    def note(self, kind, items, count):
        """Count ``count`` errors, skipped or excluded entries, keeping the first MAX_KEPT."""
        setattr(self, kind + "_count", getattr(self, kind + "_count") + count)
        if kind == "skipped" and self.on_skipped is not None:
            self.on_skipped(items)
        kept = getattr(self, kind)
        kept.extend(items[: max(0, self.MAX_KEPT - len(kept))])

    SLOW_STREAK = 5

    def _slow(self, scan):
        """Latency-bound when the last SLOW_STREAK directories were all slow per entry: one
        slow directory may only mean this thread lost the CPU for a while (a busy host), and
        threads on a fast file system cost more than they save."""
        if self.slow_entry_us <= 0:
            return True
        entries = len(scan.records) + len(scan.subdirs) + len(scan.errors) + len(scan.skipped)
        if scan.seconds * 1e6 > self.slow_entry_us * max(1, entries):
            self._slow_streak += 1
        else:
            self._slow_streak = 0
        return self._slow_streak >= self.SLOW_STREAK

    def scans(self):
        pool = None
        try:
            classify = self._classify

            def scan_now(rel):
                return _scan(self.root, rel, self.excluder, self.sort_limit, classify)

            stack = []  # frames: [subdir relpaths, next index, {index: future}]
            if self.roots is not None:
                current, split = None, None
                stack.append([list(self.roots), 0, {}])
            else:
                current, split = scan_now(b""), self.split
                if current.errors and current.errors[0][0] == b".":
                    # An unreadable or vanished root is not an empty tree: planning must
                    # fail, or an unmounted file system would "succeed" with 0 files.
                    raise OSError("cannot list the source %s: %s"
                                  % (os.fsdecode(self.root), current.errors[0][1]))
            while True:
                if current is not None:
                    if pool is None and self.threads > 1 and self._slow(current):
                        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dm-crawl")
                        self.lookahead_used = True
                    yield from self._finish(current)
                    if current.subdirs:
                        mine = current.subdirs
                        if split is not None:
                            mine = split(self, mine)
                        stack.append([mine, 0, {}])
                    current, split = None, None
                if not stack:
                    break
                frame = stack[-1]
                subdirs, idx, futures = frame
                if idx >= len(subdirs):
                    stack.pop()
                    continue
                frame[1] = idx + 1
                if pool is None and not futures:
                    current = scan_now(subdirs[idx])
                    continue
                if pool is not None:
                    for ahead in range(idx, min(idx + self.lookahead, len(subdirs))):
                        if ahead not in futures:
                            futures[ahead] = pool.submit(_scan, self.root, subdirs[ahead],
                                                         self.excluder, self.sort_limit, classify)
                future = futures.pop(idx, None)
                current = future.result() if future is not None else scan_now(subdirs[idx])
            if self.split is not None:
                yield from self.split.rest(self)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if self.split is not None:
                self.split.stop()

    def _finish(self, scan):
        """Yield the scan, streaming the rest of a directory too large to sort."""
        self._note(scan)
        self.dirs_count += 1
        if scan.rest is None:
            if scan.empty and scan.rel:
                scan.records.append(manifest_record(KIND_DIR, 0, 0, scan.rel))
                scan.sizes.append(0)
            if scan.records:
                yield scan
            return
        prefix = scan.rel + b"/" if scan.rel else b""
        subdirs = scan.subdirs
        yield scan
        while True:
            batch = list(islice(scan.rest, 10000))
            if not batch:
                break
            extra = DirScan(scan.rel)
            extra.ident = scan.ident
            self._classify(batch, prefix, extra, self.excluder, scan.rest.fd)
            self._note(extra)
            subdirs.extend(extra.subdirs)
            if extra.records:
                yield extra
        scan.rest.close()
        subdirs.sort()

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Native crawler: a streaming, deterministic, parallel walk of a source tree.

Determinism: directories are visited depth first with names in byte order, so the same tree
always yields the same sequence (and so the same partitions). Directories larger than
``sort_limit`` entries are streamed in readdir order instead of sorted, which is still stable
for an unchanged directory and keeps memory bounded.

Parallelism: on NFS/Lustre the cost is the latency of readdir/lstat round trips, not CPU, and
those release the GIL. Listing + lstat of the next sibling directories runs in a thread pool
ahead of the consumer (a bounded look-ahead), while the order of the output stays DFS order.

Memory: at most ``lookahead`` listings per level of the current path are held, never the tree.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

Entry = namedtuple("Entry", "path kind size mtime_ns")  # path: bytes relative to the root
KIND_FILE, KIND_LINK, KIND_DIR = "f", "l", "d"


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


class _Listing:
    __slots__ = ("files", "subdirs", "errors", "skipped", "rest", "empty")

    def __init__(self):
        self.files, self.subdirs, self.errors, self.skipped = [], [], [], []
        self.rest = None  # an open scandir iterator when the directory was too large to sort
        self.empty = True


def _classify(entry, relpath, listing, excluder):
    name = entry.name
    rel = relpath + b"/" + name if relpath else name
    listing.empty = False
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        listing.errors.append((rel, exc.strerror or str(exc)))
        return
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if not (excluder and excluder.excluded(rel, name, True)):
            listing.subdirs.append(rel)
        return
    if excluder and excluder.excluded(rel, name, False):
        return
    if stat.S_ISREG(mode):
        listing.files.append(Entry(rel, KIND_FILE, st.st_size, st.st_mtime_ns))
    elif stat.S_ISLNK(mode):
        listing.files.append(Entry(rel, KIND_LINK, st.st_size, st.st_mtime_ns))
    else:
        listing.skipped.append((rel, "special file (device, fifo or socket) not copied"))


def _scan(root, relpath, excluder, sort_limit):
    listing = _Listing()
    full = os.path.join(root, relpath) if relpath else root
    try:
        it = os.scandir(full)
    except OSError as exc:
        listing.errors.append((relpath or b".", exc.strerror or str(exc)))
        listing.empty = False
        return listing
    count = 0
    for entry in it:
        _classify(entry, relpath, listing, excluder)
        count += 1
        if count >= sort_limit:
            listing.rest = it
            return listing
    it.close()
    listing.files.sort()
    listing.subdirs.sort()
    return listing


class Crawl:
    """Iterate over a tree's entries. After iteration, ``errors`` and ``skipped`` hold
    (relpath, reason) pairs for what could not be read or is not copied (capped)."""

    MAX_KEPT = 1000

    def __init__(self, root, excludes=(), threads=8, lookahead=32, sort_limit=100000):
        self.root = os.fsencode(root)
        self.excluder = Excluder(excludes)
        self.threads = max(1, int(threads))
        self.lookahead = max(1, int(lookahead))
        self.sort_limit = max(1, int(sort_limit))
        self.errors, self.skipped = [], []
        self.errors_count = self.skipped_count = 0

    def _note(self, listing):
        for kind, items in (("errors", listing.errors), ("skipped", listing.skipped)):
            setattr(self, kind + "_count", getattr(self, kind + "_count") + len(items))
            kept = getattr(self, kind)
            kept.extend(items[: max(0, self.MAX_KEPT - len(kept))])

    def __iter__(self):
        with ThreadPoolExecutor(self.threads, thread_name_prefix="dm-crawl") as pool:
            def submit(rel):
                return pool.submit(_scan, self.root, rel, self.excluder, self.sort_limit)

            # Each frame: [subdir relpaths, next index, {index: future}]
            stack = []
            current = submit(b"").result()
            if current.errors and current.errors[0][0] == b".":
                # An unreadable or vanished root is not an empty tree: planning must fail,
                # or an unmounted file system would "succeed" with 0 files.
                raise OSError("cannot list the source %s: %s"
                              % (os.fsdecode(self.root), current.errors[0][1]))
            rel = b""
            while True:
                if current is not None:
                    yield from self._emit(rel, current)
                    if current.subdirs:
                        frame = [current.subdirs, 0, {}]
                        stack.append(frame)
                    current = None
                if not stack:
                    return
                frame = stack[-1]
                subdirs, idx, futures = frame
                if idx >= len(subdirs):
                    stack.pop()
                    continue
                for ahead in range(idx, min(idx + self.lookahead, len(subdirs))):
                    if ahead not in futures:
                        futures[ahead] = submit(subdirs[ahead])
                rel = subdirs[idx]
                current = futures.pop(idx).result()
                frame[1] = idx + 1

    def _emit(self, rel, listing):
        self._note(listing)
        yield from listing.files
        if listing.rest is not None:
            # Too large to sort: stream the remainder in readdir order, collecting subdirs only.
            extra = _Listing()
            for entry in listing.rest:
                _classify(entry, rel, extra, self.excluder)
                yield from extra.files
                extra.files = []
            listing.rest.close()
            self._note(extra)
            listing.subdirs = sorted(listing.subdirs + extra.subdirs)
        if listing.empty and rel:
            yield Entry(rel, KIND_DIR, 0, 0)

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A crawl on two cores: the second half of the root's subdirectories walked by a forked
child while this process walks the first half, in the same output order.

Why a process: the crawl is an lstat and a formatted record per entry, held by the GIL, so
threads do not help on a fast file system (crawl.py). An incremental pass is little more than
its crawl, on a host whose cores are otherwise idle; a second process halves it.

The child writes its scans (pickled) to an unlinked temporary file, not a pipe, so it never
waits for this process, and memory stays bounded whatever the size of its half. This process
reads that file after its own half, when the child has exited; a child that failed fails the
crawl with its error.
"""
from __future__ import annotations

import os
import pickle
import signal
import tempfile

from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl

__all__ = ["ForkedHalf", "split_crawl"]

MIN_SUBDIRS = 2  # fewer subdirectories under the root: nothing to share


class _Loaded:
    """A DirScan as read back from the child: what the consumers of scans() use."""

    __slots__ = ("rel", "records", "sizes", "whole", "subdirs", "errors", "skipped", "ident")

    def __init__(self, rel, records, sizes, whole, ident=None):
        self.rel, self.records, self.sizes, self.whole = rel, records, sizes, whole
        self.ident = ident
        self.subdirs, self.errors, self.skipped = [], [], []


class ForkedHalf:
    """The ``split`` of a Crawl (see Crawl.scans)."""

    def __init__(self, tmpdir=None):
        self.tmpdir = tmpdir
        self.pid = None
        self.out = None

    def __call__(self, crawl, subdirs):
        if len(subdirs) < MIN_SUBDIRS or not hasattr(os, "fork"):
            return subdirs
        half = (len(subdirs) + 1) // 2
        mine, theirs = subdirs[:half], subdirs[half:]
        fd, path = tempfile.mkstemp(prefix="datamover-crawl-", dir=self.tmpdir)
        os.unlink(path)  # private to the two processes, and gone with them
        pid = os.fork()
        if pid == 0:  # the child: walk our half, write it, leave without cleanup handlers
            code = 1
            try:
                _child(crawl, theirs, fd)
                code = 0
            finally:
                os._exit(code)
        self.pid, self.out = pid, fd
        return mine

    def rest(self, crawl):
        """The child's scans, in order, once it has finished; its errors counted in ``crawl``."""
        if self.pid is None:
            return
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = None
        os.lseek(self.out, 0, os.SEEK_SET)
        with open(self.out, "rb", closefd=False) as handle:
            while True:
                try:
                    item = pickle.load(handle)
                except EOFError:
                    item = ("error", "the crawl's second process ended without its result "
                            "(status %d)" % status)
                if item[0] == "scan":
                    yield _Loaded(*item[1:])
                    continue
                if item[0] == "end":
                    crawl.dirs_count += item[1]
                    for kind, items, count in item[2:]:
                        crawl.note(kind, items, count)
                    return
                raise OSError(item[1])

    def stop(self):
        """Kill a child still running (the crawl was abandoned) and close the file."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None
        if self.out is not None:
            os.close(self.out)
            self.out = None


def _child_crawl(parent, roots):
    return Crawl(parent.root, excludes=parent.excludes, threads=parent.threads,
                 lookahead=parent.lookahead, sort_limit=parent.sort_limit,
                 slow_entry_us=parent.slow_entry_us, attrs=parent.attrs, roots=roots)


def _child(parent, roots, fd):
    with open(fd, "wb", closefd=False) as out:
        try:
            crawl = _child_crawl(parent, roots)
            for scan in crawl.scans():
                pickle.dump(("scan", scan.rel, scan.records, scan.sizes, scan.whole, scan.ident), out,
                            pickle.HIGHEST_PROTOCOL)
            pickle.dump(("end", crawl.dirs_count, ("errors", crawl.errors, crawl.errors_count),
                         ("skipped", crawl.skipped, crawl.skipped_count),
                         ("excluded", crawl.excluded, crawl.excluded_count)), out)
        except BaseException as exc:  # said by the parent, which fails the crawl with it
            pickle.dump(("error", "the crawl's second process failed: %s" % (exc,)), out)
            raise


def split_crawl(root, excludes=(), threads=8, attrs=False, tmpdir=None, **kw):
    """A Crawl whose root's subdirectories are shared with a forked child (see above).
    ``tmpdir`` holds the child's half until it is read (the run directory's scratch space:
    half a manifest may not fit in /tmp)."""
    return Crawl(root, excludes=excludes, threads=threads, attrs=attrs, split=ForkedHalf(tmpdir),
                 **kw)

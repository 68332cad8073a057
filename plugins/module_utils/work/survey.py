# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""datamover_plan_only: what one partition holds, for the plan-only report (report/plan_report.py).

A plan-only pass crawls and partitions as a run does, and each worker, instead of moving a
partition, surveys it: its manifest gives every entry's kind, size and name; one lstat per
regular file adds what the crawl does not record (hard links, allocated blocks). The lstat is
the one a transfer would make anyway, spread over the fleet like the transfers. Nothing is read
from the files and nothing is sent to the destination.

Requests are counted as the run would send them at its multipart layout (tools/content.py):
one PUT per object below the upload cutoff (and per symlink object), an initiate, the parts
and a complete per multipart upload, and the verification listings: one listing page of up to
1,000 keys per directory, or per subtree the partition holds whole (the ``T`` records).
"""
from __future__ import annotations

import heapq
import os
from stat import S_ISREG

from ansible_collections.datamover.fleet.plugins.module_utils.run.survey_record import (
    EXTREMES,
    LARGEST,
    SAMPLES,
    bucket,
    empty_survey,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.content import expected_parts

MAX_INODES = 100000   # hard-linked inodes kept per partition (the rest are counted)
LIST_PAGE = 1000      # keys per listing page (S3 ListObjectsV2, OCI ListObjects)
BLOCK = 512           # st_blocks unit


def _note(block, text):
    block[0] += 1
    if len(block[1]) < SAMPLES:
        block[1].append(text)


def _text(rel):
    return os.fsdecode(rel)


class _Surveyor:
    def __init__(self, source, tool, layout, symlinks):
        self.source = os.fsencode(source).rstrip(b"/") + b"/"
        self.tool, self.layout, self.symlinks = tool, layout, symlinks
        self.out = empty_survey()
        self.largest, self.deepest, self.longest = [], [], []

    def entry(self, kind, size, rel):
        problem = self.tool.name_problem(kind, rel)
        if problem is not None:
            _note(self.out["unrepresentable"], [_text(rel), problem])
        self._keep(self.deepest, rel.count(b"/") + 1, rel)
        self._keep(self.longest, len(rel), rel)
        if kind == "l":
            self.out["symlinks"] += 1
            if self.symlinks == "links" and problem is None:
                self._requests(0)
            return
        self.out["files"] += 1
        self.out["bytes"] += size
        row = self.out["histogram"][bucket(size)]
        row[0] += 1
        row[1] += size
        self._keep(self.largest, size, rel, LARGEST)
        if problem is None:
            self._requests(size, rel)
        self._stat(size, rel)

    @staticmethod
    def _keep(heap, key, rel, most=EXTREMES):
        item = (key, rel)
        if len(heap) < most:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def _requests(self, size, rel=None):
        req = self.out["requests"]
        if not self.tool.sends_requests:
            return
        part, parts = expected_parts(size, self.layout)
        if not parts:
            req["put"] += 1
            return
        req["multipart_uploads"] += 1
        req["parts"] += parts
        if parts > self.out["most_parts"][0]:
            self.out["most_parts"] = [parts, part, _text(rel)]

    def _stat(self, size, rel):
        """Hard links and allocated blocks: one lstat, as a transfer would make."""
        try:
            st = os.lstat(self.source + rel)
        except FileNotFoundError:
            _note(self.out["vanished"], _text(rel))
            return
        except OSError as exc:
            _note(self.out["changed"], "%s: %s" % (_text(rel), exc.strerror or exc))
            return
        if st.st_size != size or not S_ISREG(st.st_mode):
            _note(self.out["changed"], _text(rel))
            return
        if st.st_nlink > 1:
            links = self.out["hardlinks"]
            links["files"] += 1
            links["bytes"] += size
            if len(links["inodes"]) < MAX_INODES:
                links["inodes"].append([st.st_dev, st.st_ino, size])
            else:
                links["inodes_dropped"] += 1
        allocated = getattr(st, "st_blocks", None)
        # A whole block or more missing: sparse, compressed by the file system, or released
        # to tape by an HSM (Lustre: st_blocks 0, full size), which a read recalls.
        if allocated is not None and size - allocated * BLOCK >= 4096:
            sparse = self.out["sparse"]
            sparse["files"] += 1
            sparse["bytes"] += size
            sparse["allocated"] += allocated * BLOCK
            if len(sparse["samples"]) < SAMPLES:
                sparse["samples"].append([_text(rel), size, allocated * BLOCK])

    def listings(self, entries, trees):
        """Verification listing pages: per directory, or per whole subtree (T records)."""
        if not self.tool.sends_requests:
            return
        scopes, trees = {}, set(trees)
        for kind, _size, _mtime, rel in entries:
            if kind == "d" or (kind == "l" and self.symlinks == "skip"):
                continue
            scope = _tree_of(rel, trees)
            if scope is None:
                scope = rel.rpartition(b"/")[0]
            scopes[scope] = scopes.get(scope, 0) + 1
        self.out["requests"]["list"] = sum(-(-n // LIST_PAGE) for n in scopes.values())

    def result(self):
        self.out["largest"] = [[s, _text(r)] for s, r in sorted(self.largest, reverse=True)]
        self.out["deepest"] = [[d, _text(r)] for d, r in sorted(self.deepest, reverse=True)]
        self.out["longest"] = [[n, _text(r)] for n, r in sorted(self.longest, reverse=True)]
        return self.out


def _tree_of(rel, trees):
    """The outermost whole subtree (a T record) that holds ``rel``, if any."""
    at = rel.find(b"/")
    while at != -1:
        if rel[:at] in trees:
            return rel[:at]
        at = rel.find(b"/", at + 1)
    return None


def survey_partition(source, entries, trees, tool, layout, symlinks="links"):
    """The survey of one partition's entries (the manifest's (kind, size, mtime_ns, relpath)
    and its whole subtrees): a JSON-ready dict, summed over partitions by plan_report."""
    surveyor = _Surveyor(source, tool, layout, symlinks)
    for kind, size, _mtime, rel in entries:
        if kind != "d":
            surveyor.entry(kind, size, rel)
    surveyor.listings(entries, trees)
    return surveyor.result()

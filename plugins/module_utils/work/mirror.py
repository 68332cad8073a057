# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mirror pass: delete at the destination what an incremental run found gone from the
source, and only then, guarded.

Deletions come from the manifests (deletions.manifest, written by incremental.py), never
from a listing of the destination: what is deleted is exactly what the previous run recorded
and this crawl no longer sees. Every guard that fails is said, with what to do; nothing is
deleted unless all pass. Each tool deletes its own way, argv lists only.
"""
from __future__ import annotations

import errno
import os
import subprocess

from ansible_collections.datamover.fleet.plugins.module_utils.errors import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import iter_records
from ansible_collections.datamover.fleet.plugins.module_utils.tools import make_tool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import (
    LINK_SUFFIX,
    rclone_name,
)

__all__ = ["apply_mirror", "mirror_refusals"]

LISTED = 1000  # applied deletions named in the report (all of them, under the default limit)


def mirror_refusals(summary, meta, previous, crawl_errors):
    """Why a mirror must not delete (sentences with the way forward); empty = go."""
    out = []
    deleted = summary["deleted"]
    listing = "the list is in %s" % summary["deletions_file"]
    if crawl_errors:
        out.append("this run's crawl had %d errors (unreadable entries look deleted): fix "
                   "them (report.md lists them) and run again" % crawl_errors)
    limit = int(meta.get("max_delete") or 0)
    if deleted > limit:
        out.append("%d deletions exceed datamover_max_delete=%d (%s): check it, then re-run "
                   "with datamover_max_delete=%d (the same datamover_run_id resumes this run), "
                   "or without datamover_mirror to only copy" % (deleted, limit, listing, deleted))
    share = float(meta.get("max_delete_share") or 0.0)
    total = summary["previous"]
    if deleted and total and deleted > share * total:
        out.append("%d deletions are %.1f%% of the %d entries at the destination, more than "
                   "datamover_max_delete_share=%s (%s): check it, then re-run with a larger "
                   "share (the same datamover_run_id resumes this run)"
                   % (deleted, 100.0 * deleted / total, total, share, listing))
    if not previous.succeeded:
        out.append("the previous run %s did not succeed (%d partitions not done): resume it "
                   "(its datamover_run_id) until it succeeds, then run the mirror pass again"
                   % (previous.rundir.run_id, len(previous.not_done)))
    return out


def apply_mirror(rundir, meta):
    """Delete every entry of deletions.manifest at the destination. Returns what was done."""
    records = list(iter_records([rundir.deletions_path()]))  # guarded: at most max_delete
    entries = []
    for record in records:
        head, _tab, path = record.partition(b"\t")
        entries.append((head[:1].decode("ascii"), path))
    tool = make_tool(meta)
    with rundir.open_log(rundir.tool_log_path("mirror")) as log:
        if meta["tool"] == "rsync":
            deleted, errors = _delete_posix(meta["source"], meta["destination"], entries, log)
        else:
            deleted, errors = _delete_rclone(tool, entries, rundir.scratch_dir(), log)
    if errors:
        raise ToolError("mirror: %d of %d deletions failed (first: %s); see %s. Nothing else "
                        "is wrong with the copy: run the pass again to retry them"
                        % (len(errors), len(entries), errors[0], rundir.tool_log_path("mirror")))
    return {"applied": len(deleted), "deleted": [os.fsdecode(p) for p in deleted[:LISTED]],
            "log": rundir.tool_log_path("mirror")}


def _delete_posix(source, destination, entries, log):
    """unlink each file or link at the destination path; then remove the directories left
    empty that the source no longer has (deepest first)."""
    src, dst = os.fsencode(source), os.fsencode(destination)
    deleted, errors, parents = [], [], set()
    for kind, rel in entries:
        target = os.path.join(dst, rel)
        try:
            if kind == "d":
                if os.path.isdir(os.path.join(src, rel)):
                    continue  # still in the source, now with subdirectories
                os.rmdir(target)
            else:
                os.unlink(target)
            deleted.append(rel)
            log.write(b"deleted %s\n" % target)
        except FileNotFoundError:
            deleted.append(rel)  # not there: the goal is met
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY:
                continue
            errors.append("%s: %s" % (os.fsdecode(target), exc.strerror))
        head = rel.rpartition(b"/")[0]
        while head and head not in parents:
            parents.add(head)
            head = head.rpartition(b"/")[0]
    for rel in sorted(parents, key=lambda p: -p.count(b"/")):
        if os.path.lexists(os.path.join(src, rel)):
            continue
        try:
            os.rmdir(os.path.join(dst, rel))
            log.write(b"removed directory %s\n" % os.path.join(dst, rel))
        except OSError:
            pass  # not empty (something not ours) or gone: left as it is
    return deleted, errors


def _delete_rclone(tool, entries, scratch, log):
    """One ``rclone delete --files-from-raw``: rclone looks up each named object (no listing
    of the bucket) and deletes it."""
    names, deleted = [], []
    for kind, rel in entries:
        if kind == "d":
            continue  # object storage has no directories
        names.append(rclone_name(rel) + (LINK_SUFFIX if kind == "l" else b""))
        deleted.append(rel)
    if not names:
        return deleted, []
    list_path = os.path.join(scratch, "mirror-files-from-raw.txt")
    with open_private(list_path, 0o600, append=False) as handle:
        handle.write(b"".join(n + b"\n" for n in names))
    argv = tool.base_argv() + ["delete", tool.destination + "/", "--files-from-raw", list_path,
                               "--no-traverse", "--retries", "3", "-v"]
    log.write(("$ %s\n" % " ".join(argv)).encode())
    log.flush()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                          check=False)
    os.unlink(list_path)
    if proc.returncode != 0:
        return [], ["rclone delete exited with code %d" % proc.returncode]
    return deleted, []

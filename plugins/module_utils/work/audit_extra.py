# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""datamover_audit_extra: what the destination holds that the source does not.

The partitions of an audit compare each source file with the destination; nothing in them
can see an object whose name the source lacks. This pass runs once, by the worker that finds
the audit settled: one listing of the whole destination (rclone: a flat LIST per 1,000
objects; rsync: a walk), compared with every name of the run's complete manifest in the tool's
own naming. Memory: one set of the source's names on that host.
"""
from __future__ import annotations

import json
import os

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import iter_records
from ansible_collections.datamover.fleet.plugins.module_utils.run.records import (
    read_manifest_bytes,
    path_record,
)

SAMPLES = 50


def source_names(rundir, tool):
    """Every name the source has at the destination, as the tool names it there."""
    names, dirs = set(), set()
    for record in iter_records(rundir.complete_manifest_files()):
        for kind, _size, _mtime, rel in read_manifest_bytes(record + b"\0")[0]:
            name = tool.destination_name(kind, rel)
            if name is None:
                continue
            names.add(name)
            # the directories that hold it (a manifest records only empty ones): rsync's walk
            # lists them; an object store lists none
            head = name.rpartition(b"/")[0]
            while head and head not in dirs:
                dirs.add(head)
                head = head.rpartition(b"/")[0]
    names |= dirs
    return names


def find_extra(rundir, tool):
    """List the destination, write every name the source lacks to the run's extra list, and
    record (and return) the count and the first names. Once per run: the first worker to
    claim it does it, the others return None."""
    try:
        fd = os.open(rundir.audit_extra_claim_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    os.close(fd)
    expected = source_names(rundir, tool)
    count, samples = 0, []
    with open_private(rundir.audit_extra_list_path(), 0o600, append=False) as out:
        for name in tool.list_destination():
            if name in expected:
                continue
            count += 1
            rec = path_record(name, "at the destination, not in the source", "extra", None)
            if len(samples) < SAMPLES:
                samples.append(rec)
            out.write((_json(rec) + "\n").encode("utf-8"))
    record = {"checked": True, "count": count, "samples": samples,
              "list": rundir.audit_extra_list_path()}
    rundir.write_audit_extra(record)
    return record


def _json(rec):
    return json.dumps(rec, sort_keys=True)

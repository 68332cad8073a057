# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of a run: what its killed transfers left at the destination, and only that.

A transfer killed mid-file (a lost host, a SIGKILLed rclone, an OOM kill) leaves an unfinished
multipart upload at the object store, billed and invisible to listings. Once every partition
is settled, the report step asks the tool to abort the run's own (tools/<tool>.py knows how)
and records what it did in the run directory (uploads.json), which the report shows. It
never fails the run: the files are verified either way; what could not be aborted is listed.
"""
from __future__ import annotations

import calendar
import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import moves_data
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.tools import make_tool, tool_class


def _started(meta):
    """The run's first start (run.json's ``created``, UTC seconds): uploads of an earlier
    execution of the same run are its own too."""
    try:
        return float(calendar.timegm(time.strptime(meta["created"], "%Y-%m-%dT%H:%M:%SZ")))
    except (KeyError, TypeError, ValueError):
        return None


def planned_names(rundir, tool):
    """Every name the run writes at the destination (the tool's own naming), from the
    manifests: read only when an upload may be the run's."""
    names = set()
    plan = rundir.plan() or {}
    for part in range(1, int(plan.get("parts") or 0) + 1):
        try:
            entries = rundir.read_manifest(part)
        except OSError:
            continue
        for kind, _size, _mtime, rel in entries:
            if kind == "f":
                name = tool.destination_name(kind, rel)
                if name is not None:
                    names.add(name)
    return names


def abort_own_uploads(rundir, max_requests_per_second=0.0, binary=None, config=None):
    """Abort the run's leftover multipart uploads when the run is over; record and return
    what was done (None for a tool without multipart uploads). ``binary`` and ``config``:
    this host's tool and rclone config when not the run's (datamover_tool_path)."""
    meta = rundir.load()
    if not tool_class(meta["tool"]).sends_requests or not moves_data(meta):
        return None  # an audit or a plan writes nothing at the destination: it started no upload
    counts = RunState(rundir).counts()
    if not rundir.plan_complete() or counts["todo"] or counts["claimed"]:
        return {"checked": False, "reason": "the run is not over (%d partitions to move or "
                "moving): its transfers may still be uploading" % (counts["todo"]
                                                                   + counts["claimed"])}
    started = _started(meta)
    previous = rundir.read_uploads() or {}
    record = {"checked": True, "listed": 0, "aborted": [], "kept": [], "error": None}
    saved = dict(os.environ)
    try:
        os.environ.update(rundir.read_secrets())  # rclone reads credentials from there
        tool = make_tool(meta, binary=binary, config=config)
        tool.limit_requests(max_requests_per_second)
        if started is None:
            raise DatamoverError("run.json has no readable start time (created)")
        record.update(tool.abort_own_uploads(started, lambda: planned_names(rundir, tool)))
    except (DatamoverError, OSError, ValueError) as exc:
        record["error"] = "could not check the destination for multipart uploads left by " \
                          "this run: %s" % exc
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Every execution's report adds to what earlier ones aborted: the record is the run's.
    seen = {a.get("upload_id") for a in record["aborted"]}
    record["aborted"] = [a for a in previous.get("aborted") or []
                         if a.get("upload_id") not in seen] + record["aborted"]
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rundir.write_uploads(record)
    return record

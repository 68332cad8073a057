# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's report: report.json (for machines and AWX) and report.md (for people)."""
from __future__ import annotations

import json
import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_bytes,
    atomic_write_json,
    human_bytes,
    human_seconds,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.records import (
    PartResult,
    path_record,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import SPECIAL
from ansible_collections.datamover.fleet.plugins.module_utils.report import plan_report
from ansible_collections.datamover.fleet.plugins.module_utils.report.plan_report import PlanTally
from ansible_collections.datamover.fleet.plugins.module_utils.report.report_html import render_html
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import iter_records
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState

SAMPLES = 50
TRANSIENT = "transient"  # tools.base's class name; the report does not import the tools
# What the report shows of run.json: how the run was asked to move data.
SETTINGS = ("tool", "tool_options", "verify", "symlinks", "transfers", "partition_files",
            "partition_bytes", "rclone_config", "changes")


class _Tally:
    """What the settled partitions' results add up to."""

    def __init__(self, rundir, lost, when):
        self.rundir, self.lost, self.when = rundir, lost, when
        self.per_host = {}
        self.verified = {"files": 0, "bytes": 0, "mismatches": 0}
        self.notes = {"vanished": [0, []], "changed": [0, []], "unrepresentable": [0, []],
                      "skipped": [0, []], "not_in_plan": [0, []]}
        self.files = self.nbytes = 0
        self.first_start = self.last_finish = None
        self.failed = []
        self.spans = []  # (host, begin, end, bytes) of each settled partition: the charts

    def add(self, part, res, failed):
        ver = res.verified or {}
        # Failed partitions count too: what they verified is at the destination, and what
        # they did not is listed, so every count adds up to the plan's.
        for key in ("files", "bytes", "mismatches"):
            self.verified[key] += ver.get(key, 0)
        self.when.add(res, ver)
        notes = self.notes
        for key in ("vanished", "changed", "unrepresentable"):
            notes[key][0] += ver.get(key, 0)
            notes[key][1].extend(ver.get(key + "_samples", [])[: SAMPLES - len(notes[key][1])])
        notes["not_in_plan"][0] += res.not_in_plan
        notes["skipped"][0] += len(res.skipped)
        notes["skipped"][1].extend(res.skipped[: SAMPLES - len(notes["skipped"][1])])
        self.lost.add_result(part, res)
        moved = res.bytes if not failed else ver.get("bytes", 0)
        if res.finished and res.seconds is not None:
            self.spans.append((res.host, res.finished - res.seconds, res.finished, moved))
        if failed:
            self._add_failed(part, res, ver)
        else:
            self._add_done(res)

    def _add_failed(self, part, res, ver):
        if not ver.get("files") and not any(r.get("class") for r in res.not_copied):
            # Never verified (a crash, a tool that never ran right): none of it is known
            # to be there.
            self.verified["mismatches"] += self.lost.add_manifest(
                self.rundir, part, "not verified: %s" % (res.last_error or "no attempt finished"),
                TRANSIENT, len(res.attempts) or None, exclude=res.not_copied)
        self.failed.append({
            "part": part, "error": res.last_error, "attempts": len(res.attempts),
            "classes": sorted({a.failure_class for a in res.attempts if a.failure_class}),
            "logs": [os.path.join(self.rundir.path, a.log) for a in res.attempts if a.log]})
        # what a failed partition verified is at the destination: counted as moved, so
        # the totals never say "files 0" beside "verified 1 files"
        self.files += ver.get("files", 0)
        self.nbytes += ver.get("bytes", 0)

    def _add_done(self, res):
        host = self.per_host.setdefault(res.host, {"partitions": 0, "files": 0, "bytes": 0})
        host["partitions"] += 1
        host["files"] += res.files
        host["bytes"] += res.bytes
        self.files += res.files
        self.nbytes += res.bytes
        if res.finished and (self.last_finish is None or res.finished > self.last_finish):
            self.last_finish = res.finished
        if res.finished and res.seconds is not None:
            begin = res.finished - res.seconds
            self.first_start = begin if self.first_start is None else min(self.first_start, begin)

    def seconds(self, started):
        begin = started if started else self.first_start
        return round(max(0.0, (self.last_finish or time.time()) - begin), 3) if begin else 0.0


def build_report(rundir, started=None, records=None):
    """report.json's content. ``records`` (a list), when given, receives one path_record per
    source file that is not at the destination: the complete list, however long."""
    meta = rundir.load()
    plan = rundir.plan() or {}
    state = RunState(rundir)
    done_ids, failed_ids = state.ids("done"), state.ids("failed")
    counts = state.counts()
    total = plan.get("parts", sum(counts.values()))
    lost = _NotCopied(records)
    when = _When(started, bool(meta.get("audit")))
    tally = _Tally(rundir, lost, when)
    surveys = PlanTally() if meta.get("plan_only") else None
    failed_set = set(failed_ids)
    for part in done_ids + failed_ids:
        res = rundir.read_result(part) or PartResult(
            part=part, status="failed", host="?", token="")
        tally.add(part, res, part in failed_set)
        if surveys is not None and res.survey:
            surveys.add(res.survey, res.files, res.bytes)
    for part in state.ids("todo") + state.ids("claimed"):
        lost.add_manifest(rundir, part, "not attempted: the run ended before this partition "
                          "was settled", None, None)
    lost.add_special(rundir, plan)
    untolerated = _untolerated(plan, meta, tally.notes)
    extra = _audit_extra(rundir, meta, counts["done"] + counts["failed"] == total)
    ok = bool(plan) and counts["done"] == total and not tally.failed
    if surveys is None:
        ok = ok and tally.verified["mismatches"] == 0 and not any(untolerated.values()) \
            and not (extra and (extra.get("count") or not extra.get("checked")))
    else:
        # a plan succeeds when it describes the whole source: every partition surveyed and
        # every entry read; what a migration would not copy is its finding, not its failure
        ok = ok and not untolerated.get("unreadable") and not untolerated["excluded_everything"]
    report = dict(_totals(rundir, meta, plan, counts, total, tally, started),
                  status="succeeded" if ok else "failed")
    report.update({
        # what was checked when: this invocation, an earlier one (skipped now), an audit
        "verification": when.record(meta.get("verify"), plan.get("incremental")),
        "audit_extra": extra,  # datamover_audit_extra: at the destination, not in the source
        "source_files": {"planned": plan.get("files"), "verified": tally.verified["files"],
                         "not_copied": lost.count},
        "files_not_copied": {"count": lost.count, "classes": dict(sorted(lost.classes.items())),
                             "samples": lost.samples, "list": rundir.not_copied_path()},
        "untolerated": {k: v for k, v in untolerated.items() if v},
    })
    report.update(_notes(rundir, meta, plan, tally))
    report["plan_only"] = surveys.section(meta, plan) if surveys is not None else None
    return report


def _totals(rundir, meta, plan, counts, total, tally, started):
    """What moved, how fast, and the partitions."""
    files, nbytes, seconds = tally.files, tally.nbytes, tally.seconds(started)
    return {
        "run_id": rundir.run_id,
        "source": meta["source"], "destination": meta["destination"], "tool": meta["tool"],
        "files": files, "bytes": nbytes, "seconds": seconds,
        "files_per_second": round(files / seconds, 1) if seconds else None,
        "bytes_per_second": round(nbytes / seconds, 1) if seconds else None,
        "partitions": {"total": total, "done": counts["done"], "failed": counts["failed"],
                       "todo": counts["todo"], "claimed": counts["claimed"]},
        "planned": {"files": plan.get("files"), "bytes": plan.get("bytes"),
                    "crawl_seconds": plan.get("seconds"), "engine": plan.get("engine")},
        "verified": tally.verified,
        "workers": tally.per_host,
        "failed_partitions": tally.failed,
    }


def _notes(rundir, meta, plan, tally):
    """What the crawl and the partitions noted, the run's settings and its timeline."""
    notes = tally.notes
    return {
        "crawl_errors": {"count": plan.get("crawl_errors", 0),
                         "samples": plan.get("crawl_error_samples", [])},
        "not_copied": {"count": plan.get("skipped", 0), "samples": plan.get("skipped_samples", [])},
        "vanished": {"count": notes["vanished"][0], "samples": notes["vanished"][1]},
        "changed": {"count": notes["changed"][0], "samples": notes["changed"][1]},
        "not_in_plan": {"count": notes["not_in_plan"][0]},
        "unrepresentable": {"count": notes["unrepresentable"][0],
                            "samples": notes["unrepresentable"][1]},
        "skipped": {"count": notes["skipped"][0], "samples": notes["skipped"][1]},
        "stopped": _stopped(rundir.stop_record()),  # a STOP file ended this execution
        "incremental": plan.get("incremental"),  # datamover_since: the diff and the mirror
        "multipart_uploads": _uploads(rundir.read_uploads()),
        "settings": {k: meta.get(k) for k in SETTINGS if k in meta},
        "timeline": timeline(tally.spans),
        # None: the crawl did not count them (datamover_partition_engine=fpart)
        "excluded": {"count": plan.get("excluded"), "samples": plan.get("excluded_samples", []),
                     "patterns": meta.get("excludes") or []},
        "excluded_automatically": {"count": len(meta.get("excluded_automatically") or []),
                                   "samples": meta.get("excluded_automatically") or []},
        "run_dir": rundir.path,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _audit_extra(rundir, meta, settled):
    """What datamover_audit_extra found (None when not asked for)."""
    if not (meta.get("audit") and meta.get("audit_extra")):
        return None
    return rundir.read_audit_extra() or {
        "checked": False, "error": "the destination was not listed yet" if not settled else
        "no worker listed the destination (see the workers' records)"}


class _When:
    """Which invocation checked each partition: one that settled before ``started`` (this
    execution's start) was verified by an earlier invocation and not looked at now; an
    audit checked everything now, and says so in other words."""

    def __init__(self, started, audit):
        self.started, self.audit = started, audit
        self.now = {"files": 0, "bytes": 0, "partitions": 0, "content_checked": 0,
                    "content_fallback": 0}
        self.earlier = {"files": 0, "bytes": 0, "partitions": 0, "first": None, "last": None}

    def add(self, res, ver):
        if self.started and res.finished and res.finished < self.started:
            block = self.earlier
            stamp = _iso(res.finished)
            block["first"] = min(block["first"] or stamp, stamp)
            block["last"] = max(block["last"] or stamp, stamp)
        else:
            block = self.now
            block["content_checked"] += ver.get("content_checked", 0)
            block["content_fallback"] += ver.get("content_fallback", 0)
        block["files"] += ver.get("files", 0)
        block["bytes"] += ver.get("bytes", 0)
        block["partitions"] += 1

    def record(self, mode, incremental):
        empty = {"files": 0, "bytes": 0, "partitions": 0, "content_checked": 0,
                 "content_fallback": 0}
        return {"mode": mode or "size", "audit": self.audit,
                "verified_now": empty if self.audit else self.now,
                "verified_earlier": self.earlier,
                "audited_now": self.now if self.audit else empty,
                # an incremental pass moves what changed; the rest is not looked at
                "unchanged_not_checked": (incremental or {}).get("unchanged", 0)}


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _untolerated(plan, meta, notes):
    """{class: count} of the misses that fail the run: anything not copied fails it, unless
    the user said which classes to tolerate (datamover_tolerate). A file changed in the source
    during the run is not the planned version, and a name the destination cannot hold is a
    miss like any other (class unrepresentable). A plan whose every entry was excluded moved
    nothing the user meant to move: a mistake in datamover_excludes, never a success (and
    not tolerable)."""
    untolerated = {"unreadable": plan.get("crawl_errors", 0), "changed": notes["changed"][0],
                   "unrepresentable": notes["unrepresentable"][0]}
    for key in meta.get("tolerate") or []:
        untolerated.pop(key, None)
    untolerated["excluded_everything"] = plan.get("excluded", 0) if plan and not (
        plan.get("files") or plan.get("crawl_errors") or plan.get("skipped")) else 0
    return untolerated


def _stopped(record):
    if not record:
        return None
    return {"reason": record.get("reason"), "path": record.get("path"),
            "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["time"]))}


def _uploads(record):
    """report.json's view of uploads.json: counts and samples of the multipart uploads the
    run aborted, of those under its destination it left alone (and why), or why it could
    not check."""
    if record is None:
        return None
    return {"checked": bool(record.get("checked")), "reason": record.get("reason"),
            "error": record.get("error"), "listed": record.get("listed", 0),
            "aborted": len(record.get("aborted") or []),
            "aborted_samples": (record.get("aborted") or [])[:SAMPLES],
            "kept": len(record.get("kept") or []),
            "kept_samples": (record.get("kept") or [])[:SAMPLES]}


def timeline(spans, bins=120):
    """Throughput over time, for the run and per worker: each partition's bytes spread
    evenly over the time it was held, summed in ``bins`` equal steps (bytes per second)."""
    if not spans:
        return {"start": None, "start_utc": None, "step": None, "run": [], "workers": {}}
    start = min(s[1] for s in spans)
    end = max(s[2] for s in spans)
    step = max((end - start) / bins, 0.001)
    run = [0.0] * bins
    workers = {}
    for host, begin, finish, nbytes in spans:
        row = workers.setdefault(host, [0.0] * bins)
        length = max(finish - begin, 1e-9)
        first = min(bins - 1, int((begin - start) / step))
        last = min(bins - 1, int((finish - start) / step))
        for i in range(first, last + 1):
            lo, hi = max(begin, start + i * step), min(finish, start + (i + 1) * step)
            share = nbytes * (max(0.0, hi - lo) / length if finish > begin else 1.0)
            run[i] += share / step
            row[i] += share / step
    return {"start": start, "step": step,
            "start_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)),
            "run": [round(v, 1) for v in run],
            "workers": {h: [round(v, 1) for v in row] for h, row in sorted(workers.items())}}


class _NotCopied:
    """Counts, classes and samples of the files not copied; every record, when asked."""

    def __init__(self, records):
        self.records = records
        self.count = 0
        self.classes = {}
        self.samples = []

    def add(self, rec):
        self.count += 1
        key = rec.get("class") or "not a failure"
        self.classes[key] = self.classes.get(key, 0) + 1
        if len(self.samples) < SAMPLES:
            self.samples.append(rec)
        if self.records is not None:
            self.records.append(rec)

    def add_result(self, part, res):
        for rec in res.not_copied:
            self.add(dict(rec, partition=part))

    def add_special(self, rundir, plan):
        """The special files the crawl left out (not a failure: there is nothing to copy),
        every one from the run's list, else (fpart, runs planned before it existed) the
        plan's samples."""
        if os.path.exists(rundir.special_path()):
            paths = iter_records([rundir.special_path()])
        else:
            paths = (os.fsencode(p) for p, _why in plan.get("skipped_samples") or [])
        for rel in paths:
            self.add(path_record(rel, SPECIAL, None, None))

    def add_manifest(self, rundir, part, reason, cls, attempt, exclude=()):
        """Every file of a partition not already listed; returns how many were added."""
        listed = {r.get("path") for r in exclude}
        added = 0
        try:
            entries = rundir.read_manifest(part)
        except OSError:
            return 0
        for kind, _size, _mtime, rel in entries:
            if kind == "d":
                continue
            rec = path_record(rel, reason, cls, attempt, part)
            if rec["path"] in listed:
                continue
            self.add(rec)
            added += 1
        return added


def write_report(rundir, report, records=None):
    """Write report.json, report.md and report.html, and the not-copied list when given."""
    if records is not None:
        atomic_write_bytes(rundir.not_copied_path(), b"".join(
            (json.dumps(r, sort_keys=True) + "\n").encode("utf-8") for r in records))
    path_json, path_md = rundir.report_paths()
    atomic_write_bytes(rundir.html_report_path(), render_html(
        report, summary_lines(report)).encode("utf-8", "backslashreplace"))
    atomic_write_json(path_json, report)
    # Samples of names that are not UTF-8 hold surrogates: written as \\udcXX, not a crash.
    atomic_write_bytes(path_md, render_markdown(report).encode("utf-8", "backslashreplace"))
    return path_json, path_md


def make_report(rundir, started=None):
    """Build and write the report; what the run_report module and the watch return. It reads
    the run directory only: what the end-of-run clean-up did at the destination (run_cleanup,
    work/cleanup.py) it reads from the record that step left."""
    records = []
    report = build_report(rundir, started=started, records=records)
    path_json, path_md = write_report(rundir, report, records)
    return {"report": report, "report_json": path_json, "report_md": path_md,
            "report_html": rundir.html_report_path(),
            "summary": summary_lines(report) + ["HTML report: %s" % rundir.html_report_path()]}


def summary_lines(report):
    if report.get("plan_only"):
        return ["run %s: %s" % (report["run_id"], report["status"].upper()),
                "%s -> %s (%s)" % (report["source"], report["destination"], report["tool"]),
                ] + _stopped_lines(report) + plan_report.summary_lines(
                    report["plan_only"], report["run_id"]) + _crawl_lines(report) \
            + _incremental_lines(report.get("incremental"))
    rate = report["bytes_per_second"] or 0
    return [
        "run %s: %s" % (report["run_id"], report["status"].upper()),
        "%s -> %s (%s)" % (report["source"], report["destination"], report["tool"]),
        "files %d, %s in %s (%s files/s, %s/s)" % (
            report["files"], human_bytes(report["bytes"]), human_seconds(report["seconds"]),
            report["files_per_second"] or 0, human_bytes(rate)),
        "partitions %d/%d done, %d failed" % (
            report["partitions"]["done"], report["partitions"]["total"],
            report["partitions"]["failed"]),
    ] + _stopped_lines(report) + _checked_lines(report) + _source_line(report) \
        + _extra_lines(report.get("audit_extra")) + _not_copied_line(report) \
        + _catch_up_lines(report) \
        + _incremental_lines(report.get("incremental")) \
        + _uploads_lines(report.get("multipart_uploads"))


def _checked_lines(report):
    """What was checked when, never merged: verified by this invocation, verified by an
    earlier one (skipped now: not looked at again), audited now."""
    ver = report.get("verification")
    if not ver:  # a report of an older version
        return ["verified %d files, %s, %d mismatches" % (
            report["verified"]["files"], human_bytes(report["verified"]["bytes"]),
            report["verified"]["mismatches"])]
    by = "by content (%s)" % _content_words(ver) if ver["mode"] == "checksum" else \
        "by name and size" if ver["mode"] == "size" else "not verified (datamover_verify=none)"
    if ver["audit"]:
        now = ver["audited_now"]
        return ["audited now, %s: %d files, %s match the source; %d differences" % (
            by, now["files"], human_bytes(now["bytes"]), report["verified"]["mismatches"])]
    now, earlier = ver["verified_now"], ver["verified_earlier"]
    lines = ["verified now, %s: %d files, %s, in %d partitions; %d mismatches" % (
        by, now["files"], human_bytes(now["bytes"]), now["partitions"],
        report["verified"]["mismatches"])]
    if earlier["partitions"]:
        lines.append(
            "verified earlier, not checked now: %d files, %s, in %d partitions done by an "
            "earlier invocation (%s%s); to check them now, run an audit "
            "(-e datamover_audit=true with a new datamover_run_id)" % (
                earlier["files"], human_bytes(earlier["bytes"]), earlier["partitions"],
                earlier["first"], "" if earlier["last"] == earlier["first"]
                else " to " + earlier["last"]))
    return lines


def _extra_lines(extra):
    if not extra:
        return []
    if not extra.get("checked"):
        return ["extra at the destination NOT CHECKED: %s" % extra.get("error")]
    return ["extra at the destination (not in the source): %d (list: %s)"
            % (extra["count"], extra["list"])]


def _content_words(ver):
    now = ver["audited_now"] if ver["audit"] else ver["verified_now"]
    words = "%d files compared" % now["content_checked"]
    if now["content_fallback"]:
        words += ", %d of them read back: no usable hash in the listing" % now["content_fallback"]
    return words


def _stopped_lines(report):
    """A run ended by a STOP file says so first: its unsettled partitions are not failures."""
    stop = report.get("stopped")
    if not stop:
        return []
    parts = report["partitions"]
    left = parts["todo"] + parts["claimed"]
    if not left and parts["done"] + parts["failed"] == parts["total"]:
        # the STOP came when there was nothing left to stop: the run is complete, not stopped
        return ["a STOP file %s (%s, %s) came after every partition had settled: nothing was "
                "left to stop" % (stop["path"], stop["reason"], stop["time_utc"])]
    return ["STOPPED by the STOP file %s (%s, %s): %d partitions not attempted or not finished; "
            "re-run with the same datamover_run_id to resume (the STOP file is then cleared)"
            % (stop["path"], stop["reason"], stop["time_utc"], left)]


def _uploads_lines(up):
    """What the end of the run did about the multipart uploads it left behind."""
    if not up:
        return []
    if up.get("error"):
        return ["multipart uploads NOT CHECKED: %s" % up["error"]]
    if not up["checked"]:
        return ["multipart uploads not checked yet: %s" % up.get("reason")]
    line = "multipart uploads left by this run: %d aborted" % up["aborted"]
    if up["kept"]:
        line += "; %d under the destination left alone (not this run's, or not abortable: " \
                "listed in report.md)" % up["kept"]
    return [line]


def _catch_up_lines(report):
    """The source moved on during the run: say what to do about it."""
    changed = (report.get("changed") or {}).get("count", 0)
    vanished = (report.get("vanished") or {}).get("count", 0)
    added = (report.get("not_in_plan") or {}).get("count", 0)
    out = []
    if added:
        out.append("%d files not in the plan (added to the source after the crawl) were copied "
                   "with the directories that hold them, unverified: the next incremental pass "
                   "(-e datamover_since=%s) records them" % (added, report["run_id"]))
    if not (changed or vanished):
        return out
    bits = ["%d changed" % changed] if changed else []
    bits += ["%d vanished" % vanished] if vanished else []
    out.append("SOURCE CHANGED during the run: %s since the crawl (each named in report.md and "
               "%s); run an incremental pass to catch up: -e datamover_since=%s with a new "
               "datamover_run_id (files added after the crawl are not in this run's plan: that "
               "pass moves them too)" % (", ".join(bits), report["files_not_copied"]["list"],
                                         report["run_id"]))
    return out


def _incremental_lines(inc):
    """An incremental run: what the diff found, and what the mirror did or would do."""
    if not inc:
        return []
    lines = ["incremental since %s: %d new, %d changed, %d unchanged (not moved, not checked "
             "now), %d deleted from the source" % (
                 inc["since"], inc["new"], inc["changed"], inc["unchanged"], inc["deleted"])]
    if inc.get("renamed_dirs"):
        lines.append("%d directories look renamed (moved as new, old names deleted)"
                     % inc["renamed_dirs"])
    mirror = inc.get("mirror") or {}
    if mirror.get("requested"):
        lines.append("mirror: %d deleted at the destination (listed in report.md)"
                     % mirror.get("applied", 0))
    elif inc["deleted"]:
        lines.append("mirror dry run: %d would be deleted with datamover_mirror=true (%s)"
                     % (inc["deleted"], "; ".join(mirror.get("refusals_if_requested") or [])
                        or "the guards would allow it"))
    return lines


def _source_line(report):
    """The one sentence a user checks: of the plan's files, how many are verified there, how
    many are not, and where each of those is named."""
    src, lost = report.get("source_files"), report.get("files_not_copied")
    if not src or src["planned"] is None:
        return []
    if (report.get("settings") or {}).get("verify") == "none":
        return ["%d source files planned, none verified (datamover_verify=none); %d known not "
                "copied (list: %s)" % (src["planned"], src["not_copied"], lost["list"])]
    classes = ", ".join("%d %s" % (n, c) for c, n in lost["classes"].items())
    if (report.get("verification") or {}).get("audit"):
        held = "the destination HOLDS the source" if report["status"] == "succeeded" else \
            "the destination does NOT hold the source"
        return ["audit: %s: %d of %d source files match; %d differ%s (list: %s)" % (
            held, src["verified"], src["planned"], src["not_copied"],
            " (%s)" % classes if classes else "", lost["list"])]
    earlier = ((report.get("verification") or {}).get("verified_earlier") or {}).get("files")
    when = " (%d now, %d by an earlier invocation)" % (src["verified"] - earlier, earlier) \
        if earlier else ""
    return ["%d of %d source files verified%s; %d not copied%s (list: %s)" % (
        src["verified"], src["planned"], when, src["not_copied"],
        " (%s)" % classes if classes else "", lost["list"])]


def _crawl_lines(report):
    """What the crawl could not read, and what the excludes left out (a plan's view)."""
    out = []
    errors = report.get("crawl_errors") or {}
    if errors.get("count"):
        out.append("UNREADABLE during the crawl: %d entries (listed in report.md): the plan "
                   "does not describe them" % errors["count"])
    excluded = report.get("excluded") or {}
    if excluded.get("count"):
        out.append("excluded by datamover_excludes (%s): %d entries (a directory counts once)"
                   % (", ".join(excluded["patterns"]), excluded["count"]))
    return out


def _not_copied_line(report):
    """What was deliberately not copied, said in the summary so it cannot go unnoticed."""
    bits = []
    for key, label in (("unrepresentable", "names the destination cannot hold"),
                       ("skipped", "skipped by policy (empty directories, symlinks)"),
                       ("not_copied", "special files"),
                       ("vanished", "vanished from the source"),
                       ("changed", "changed in the source during the run"),
                       ("crawl_errors", "unreadable during the crawl")):
        if (report.get(key) or {}).get("count"):
            bits.append("%d %s" % (report[key]["count"], label))
    out = ["NOT COPIED: %s (listed in report.md)" % ", ".join(bits)] if bits else []
    excluded = report.get("excluded") or {}
    if excluded.get("count"):
        out.append("excluded by datamover_excludes (%s): %d entries (a directory counts once)%s"
                   % (", ".join(excluded["patterns"]), excluded["count"],
                      "; EVERY entry of the source was excluded: nothing was moved"
                      if (report.get("untolerated") or {}).get("excluded_everything") else ""))
    return out


def _markdown_incremental(inc):
    out = []
    if not inc:
        return out
    mirror = inc.get("mirror") or {}
    if mirror.get("requested"):
        out += ["", "## Deleted at the destination (mirror): %d" % mirror.get("applied", 0), ""]
        out += ["- `%s`" % p for p in mirror.get("deleted", [])]
    elif inc["deleted"]:
        out += ["", "## Deleted from the source, not at the destination (dry run): %d"
                % inc["deleted"], "", "All of them: `%s`" % inc["deletions_file"], ""]
        out += ["- `%s`" % p for p in inc["samples"]["deleted"]]
    if inc.get("renamed_dir_samples"):
        out += ["", "## Directories that look renamed (new + deleted)", ""]
        out += ["- `%s` -> `%s`" % (a, b) for a, b in inc["renamed_dir_samples"]]
    return out


def _markdown_uploads(up):
    out = []
    for key, title in (("aborted", "Multipart uploads aborted (left by this run's killed "
                                   "transfers)"),
                       ("kept", "Multipart uploads under the destination left alone")):
        if up.get(key):
            out += ["", "## %s: %d" % (title, up[key]), ""]
            out += ["- `%s` (upload %s, initiated %s)%s" % (
                _cell(u["key"]), u.get("upload_id"), u.get("initiated"),
                ": " + u["reason"] if u.get("reason") else "") for u in up[key + "_samples"]]
    return out


def render_markdown(report):
    out = ["# datamover run `%s` — %s" % (report["run_id"], report["status"]), ""]
    out += ["- " + line for line in summary_lines(report)[1:]]
    out += ["", "## Workers", "", "| host | partitions | files | bytes |", "|---|---:|---:|---:|"]
    for host, row in sorted(report["workers"].items()):
        out.append("| %s | %d | %d | %s |" % (host, row["partitions"], row["files"],
                                              human_bytes(row["bytes"])))
    if report["failed_partitions"]:
        out += ["", "## Failed partitions", ""]
        for item in report["failed_partitions"]:
            out.append("- %06d: %s [%s] (logs: %s)" % (
                item["part"], item["error"], ", ".join(item.get("classes") or ["?"]),
                ", ".join(item["logs"])))
    lost = report.get("files_not_copied") or {}
    if lost.get("count"):
        out += ["", "## Files not copied: %d" % lost["count"], "",
                "Every one is in `%s` (one JSON record a line)%s." % (
                    lost["list"], "; the first %d:" % len(lost["samples"])
                    if len(lost["samples"]) < lost["count"] else ""), "",
                "| path | reason | class | partition | attempt |", "|---|---|---|---:|---:|"]
        for rec in lost["samples"]:
            out.append("| `%s` | %s | %s | %s | %s |" % (
                _cell(rec["path"]), _cell(rec["reason"]), rec.get("class") or "not a failure",
                "%06d" % rec["partition"] if rec.get("partition") else "",
                rec.get("attempt") or ""))
    for key, title in (("crawl_errors", "Unreadable during the crawl"),
                       ("not_copied", "Not copied (special files)"),
                       ("unrepresentable", "Names the destination cannot hold (not copied)"),
                       ("skipped", "Skipped by policy"),
                       ("vanished", "Vanished from the source during the run"),
                       ("changed", "Changed in the source during the run (not the planned "
                                   "version: an incremental pass moves it)"),
                       ("excluded", "Excluded by datamover_excludes (first %d)" % SAMPLES),
                       ("excluded_automatically", "Left out of the source automatically")):
        block = report.get(key) or {"count": 0}
        if block["count"]:
            out += ["", "## %s: %d" % (title, block["count"]), ""]
            out += ["- `%r`" % (s,) for s in block["samples"]]
    out += _markdown_incremental(report.get("incremental"))
    if report.get("plan_only"):
        out += plan_report.markdown(report["plan_only"])
    out += _markdown_uploads(report.get("multipart_uploads") or {})
    out += ["", "Run directory: `%s`" % report["run_dir"], ""]
    return "\n".join(out)


def _cell(text):
    """Text in a markdown table cell: no line breaks, no column bars."""
    return "".join(repr(c)[1:-1] if c < " " else c for c in text).replace("|", "\\|")

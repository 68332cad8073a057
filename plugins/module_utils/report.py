# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's report: report.json (for machines and AWX) and report.md (for people)."""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_bytes,
    atomic_write_json,
    human_bytes,
    human_seconds,
)
from ansible_collections.datamover.fleet.plugins.module_utils.records import PartResult
from ansible_collections.datamover.fleet.plugins.module_utils.runstate import RunState

SAMPLES = 50


def build_report(rundir, started=None):
    meta = rundir.load()
    plan = rundir.plan() or {}
    state = RunState(rundir)
    done_ids, failed_ids = state.ids("done"), state.ids("failed")
    counts = state.counts()
    total = plan.get("parts", sum(counts.values()))
    per_host = {}
    verified = {"files": 0, "bytes": 0, "mismatches": 0}
    notes = {"vanished": [0, []], "unrepresentable": [0, []], "skipped": [0, []]}
    files = nbytes = 0
    first_start, last_finish = None, None
    failed = []
    for part in done_ids + failed_ids:
        res = rundir.read_result(part) or PartResult(
            part=part, status="failed", host="?", token="")
        ver = res.verified or {}
        if part in failed_ids:
            failed.append({"part": part, "error": res.last_error, "attempts": len(res.attempts),
                           "logs": [os.path.join(rundir.path, a.log)
                                    for a in res.attempts if a.log]})
            continue
        host = per_host.setdefault(res.host, {"partitions": 0, "files": 0, "bytes": 0})
        host["partitions"] += 1
        host["files"] += res.files
        host["bytes"] += res.bytes
        files += res.files
        nbytes += res.bytes
        verified["files"] += ver.get("files", 0)
        verified["bytes"] += ver.get("bytes", 0)
        verified["mismatches"] += ver.get("mismatches", 0)
        for key in ("vanished", "unrepresentable"):
            notes[key][0] += ver.get(key, 0)
            notes[key][1].extend(ver.get(key + "_samples", [])[: SAMPLES - len(notes[key][1])])
        notes["skipped"][0] += len(res.skipped)
        notes["skipped"][1].extend(res.skipped[: SAMPLES - len(notes["skipped"][1])])
        if res.finished and (last_finish is None or res.finished > last_finish):
            last_finish = res.finished
        if res.finished and res.seconds is not None:
            begin = res.finished - res.seconds
            first_start = begin if first_start is None else min(first_start, begin)
    begin = started if started else first_start
    seconds = round(max(0.0, (last_finish or time.time()) - begin), 3) if begin else 0.0
    ok = bool(plan) and counts["done"] == total and not failed and verified["mismatches"] == 0
    report = {
        "run_id": rundir.run_id,
        "status": "succeeded" if ok else "failed",
        "source": meta["source"], "destination": meta["destination"], "tool": meta["tool"],
        "files": files, "bytes": nbytes, "seconds": seconds,
        "files_per_second": round(files / seconds, 1) if seconds else None,
        "bytes_per_second": round(nbytes / seconds, 1) if seconds else None,
        "partitions": {"total": total, "done": counts["done"], "failed": counts["failed"],
                       "todo": counts["todo"], "claimed": counts["claimed"]},
        "planned": {"files": plan.get("files"), "bytes": plan.get("bytes"),
                    "crawl_seconds": plan.get("seconds"), "engine": plan.get("engine")},
        "verified": verified,
        "workers": per_host,
        "failed_partitions": failed,
        "crawl_errors": {"count": plan.get("crawl_errors", 0),
                         "samples": plan.get("crawl_error_samples", [])},
        "not_copied": {"count": plan.get("skipped", 0), "samples": plan.get("skipped_samples", [])},
        "vanished": {"count": notes["vanished"][0], "samples": notes["vanished"][1]},
        "unrepresentable": {"count": notes["unrepresentable"][0],
                            "samples": notes["unrepresentable"][1]},
        "skipped": {"count": notes["skipped"][0], "samples": notes["skipped"][1]},
        "incremental": plan.get("incremental"),  # datamover_since: the diff and the mirror
        "run_dir": rundir.path,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return report


def write_report(rundir, report):
    path_json, path_md = rundir.report_paths()
    atomic_write_json(path_json, report)
    atomic_write_bytes(path_md, render_markdown(report).encode("utf-8"))
    return path_json, path_md


def make_report(rundir, started=None):
    """Build and write the report; what the run_report module and the watch return."""
    report = build_report(rundir, started=started)
    path_json, path_md = write_report(rundir, report)
    return {"report": report, "report_json": path_json, "report_md": path_md,
            "summary": summary_lines(report)}


def summary_lines(report):
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
        "verified %d files, %s, %d mismatches" % (
            report["verified"]["files"], human_bytes(report["verified"]["bytes"]),
            report["verified"]["mismatches"]),
    ] + _not_copied_line(report) + _incremental_lines(report.get("incremental"))


def _incremental_lines(inc):
    """An incremental run: what the diff found, and what the mirror did or would do."""
    if not inc:
        return []
    lines = ["incremental since %s: %d new, %d changed, %d unchanged (not moved), %d deleted "
             "from the source" % (inc["since"], inc["new"], inc["changed"], inc["unchanged"],
                                  inc["deleted"])]
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


def _not_copied_line(report):
    """What was deliberately not copied, said in the summary so it cannot go unnoticed."""
    bits = []
    for key, label in (("unrepresentable", "names the destination cannot hold"),
                       ("skipped", "skipped by policy (empty directories, symlinks)"),
                       ("not_copied", "special files"),
                       ("vanished", "vanished from the source"),
                       ("crawl_errors", "unreadable during the crawl")):
        if report[key]["count"]:
            bits.append("%d %s" % (report[key]["count"], label))
    return ["NOT COPIED: %s (listed in report.md)" % ", ".join(bits)] if bits else []


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
            out.append("- %06d: %s (logs: %s)" % (item["part"], item["error"],
                                                  ", ".join(item["logs"])))
    for key, title in (("crawl_errors", "Unreadable during the crawl"),
                       ("not_copied", "Not copied (special files)"),
                       ("unrepresentable", "Names the destination cannot hold (not copied)"),
                       ("skipped", "Skipped by policy"),
                       ("vanished", "Vanished from the source during the run")):
        block = report[key]
        if block["count"]:
            out += ["", "## %s: %d" % (title, block["count"]), ""]
            out += ["- `%r`" % (s,) for s in block["samples"]]
    inc = report.get("incremental")
    if inc:
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
    out += ["", "Run directory: `%s`" % report["run_dir"], ""]
    return "\n".join(out)

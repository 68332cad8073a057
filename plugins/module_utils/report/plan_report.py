# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""datamover_plan_only: the report's "plan_only" section, summed from the partitions' surveys
(work/survey.py), with the estimates the user asked for (estimate.py)."""
from __future__ import annotations

import heapq

from ansible_collections.datamover.fleet.plugins.module_utils.estimate import (
    cost,
    duration,
    write_requests,
)
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    human_bytes,
    human_seconds,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.survey_record import (
    EXTREMES,
    HISTOGRAM_EDGES,
    LARGEST,
    SAMPLES,
    empty_survey,
)


def bucket_labels():
    """Each histogram bucket's label: "0 B", "< 4.0 KiB", ..., ">= 1.0 TiB"."""
    labels = ["empty"]
    labels += ["%s to < %s" % (human_bytes(lo), human_bytes(hi))
               for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:])]
    return labels + [">= %s" % human_bytes(HISTOGRAM_EDGES[-1])]


class PlanTally:
    """The sum of the surveys of the settled partitions."""

    def __init__(self):
        self.total = empty_survey()
        self.inodes = {}
        self.partitions = []  # (files, bytes) of each surveyed partition

    def add(self, survey, files, nbytes):
        self.partitions.append((files, nbytes))
        tot = self.total
        for key in ("files", "symlinks", "bytes"):
            tot[key] += survey[key]
        for row, add in zip(tot["histogram"], survey["histogram"]):
            row[0] += add[0]
            row[1] += add[1]
        for key, most in (("largest", LARGEST), ("deepest", EXTREMES), ("longest", EXTREMES)):
            tot[key] = heapq.nlargest(most, tot[key] + survey[key], key=lambda x: (x[0], x[1]))
        for key in ("unrepresentable", "vanished", "changed"):
            tot[key][0] += survey[key][0]
            tot[key][1].extend(survey[key][1][: SAMPLES - len(tot[key][1])])
        for key in ("put", "multipart_uploads", "parts", "list"):
            tot["requests"][key] += survey["requests"][key]
        if survey["most_parts"][0] > tot["most_parts"][0]:
            tot["most_parts"] = survey["most_parts"]
        sparse = tot["sparse"]
        for key in ("files", "bytes", "allocated"):
            sparse[key] += survey["sparse"][key]
        sparse["samples"].extend(survey["sparse"]["samples"][: SAMPLES - len(sparse["samples"])])
        links = survey["hardlinks"]
        tot["hardlinks"]["files"] += links["files"]
        tot["hardlinks"]["bytes"] += links["bytes"]
        tot["hardlinks"]["inodes_dropped"] += links["inodes_dropped"]
        for dev, ino, size in links["inodes"]:
            self.inodes[(dev, ino)] = size

    def section(self, meta, plan):
        tot = self.total
        links = tot["hardlinks"]
        distinct = sum(self.inodes.values())
        # each name of a hard-linked file becomes its own object (or rsync file: no -H)
        duplicated = links["bytes"] - distinct if not links["inodes_dropped"] else None
        labels = bucket_labels()
        estimate = meta.get("estimate") or {}
        stored = tot["bytes"]
        return {
            "files": tot["files"], "symlinks": tot["symlinks"], "bytes": tot["bytes"],
            "directories": plan.get("dirs"),
            "partitions": _partitions(self.partitions),
            "histogram": [{"bucket": label, "files": row[0], "bytes": row[1]}
                          for label, row in zip(labels, tot["histogram"])],
            "largest": [{"bytes": s, "path": p} for s, p in tot["largest"]],
            "deepest": [{"depth": d, "path": p} for d, p in tot["deepest"]],
            "longest": [{"length": n, "path": p} for n, p in tot["longest"]],
            "unrepresentable": {"count": tot["unrepresentable"][0],
                                "samples": tot["unrepresentable"][1]},
            "special": {"count": plan.get("skipped", 0),
                        "samples": plan.get("skipped_samples", [])[:SAMPLES]},
            "hardlinks": {"files": links["files"], "bytes": links["bytes"],
                          "inodes": len(self.inodes) if not links["inodes_dropped"] else None,
                          "duplicated_bytes": duplicated},
            "sparse": dict(tot["sparse"]),
            "changed_since_crawl": {"vanished": tot["vanished"][0], "changed": tot["changed"][0],
                                    "samples": (tot["vanished"][1] + tot["changed"][1])[:SAMPLES]},
            "requests": _requests(tot, meta),
            "cost": cost(tot["requests"], stored, estimate.get("prices")),
            "time": duration(tot["files"] + tot["symlinks"], tot["bytes"], estimate),
        }


def _partitions(sizes):
    if not sizes:
        return {"count": 0}
    files = sorted(s[0] for s in sizes)
    nbytes = sorted(s[1] for s in sizes)
    return {"count": len(sizes), "files_median": files[len(files) // 2], "files_max": files[-1],
            "bytes_median": nbytes[len(nbytes) // 2], "bytes_max": nbytes[-1]}


def _requests(tot, meta):
    req = dict(tot["requests"])
    if meta.get("tool") != "rclone":
        return None  # rsync to a file system sends no requests to a store
    req["multipart_initiate"] = req["multipart_complete"] = req["multipart_uploads"]
    req["writes"] = write_requests(req)
    layout = meta.get("multipart") or {}
    most = tot["most_parts"]
    req["layout"] = {"upload_cutoff": layout.get("upload_cutoff"),
                     "chunk_size": layout.get("chunk_size")}
    req["most_parts"] = {"parts": most[0], "part_size": most[1], "path": most[2]} \
        if most[0] else None
    if meta.get("verify") == "checksum":
        req["checksum_reads_bytes"] = tot["bytes"]  # the source is read once more to hash it
    return req


def summary_lines(section, run_id):
    """The plan-only pass in a few lines for people."""
    lines = ["PLAN ONLY: nothing was moved or written at the destination",
             "%s, %s, %s%s in %s" % (
                 _n(section["files"], "file"), _n(section["symlinks"], "symlink"),
                 human_bytes(section["bytes"]),
                 ", " + _n(section["directories"], "directory", "directories")
                 if section["directories"] is not None else "",
                 _n(section["partitions"]["count"], "partition"))]
    if section["largest"]:
        top = section["largest"][0]
        lines.append("largest file: %s (%s)" % (human_bytes(top["bytes"]), top["path"]))
    lines += _finding_lines(section)
    req = section["requests"]
    if req:
        lines.append("requests a migration sends: %d PUT, %d multipart uploads of %d parts "
                     "(%d write requests in all), about %d listings" % (
                         req["put"], req["multipart_uploads"], req["parts"], req["writes"],
                         req["list"]))
    lines += _estimate_lines(section)
    lines.append("a migration of it: the same command without datamover_plan_only and with "
                 "a new datamover_run_id (a run id is one kind of pass: %s stays a plan)"
                 % run_id)
    return lines


def _finding_lines(section):
    out = []
    for key, words in (("unrepresentable", "names the destination cannot hold (not copied by "
                                           "a migration)"),
                       ("special", "special files (devices, FIFOs, sockets: not copied)")):
        # words are plural on purpose: "1 names ..." reads as a count of a kind
        if section[key]["count"]:
            path, why = section[key]["samples"][0]
            count = _n(section[key]["count"], words, words)
            out.append("%s, e.g. %s (%s)" % (count, _short(path), why))
    links, sparse = section["hardlinks"], section["sparse"]
    if links["files"]:
        out.append("%s%s: each is copied in full%s" % (
            _n(links["files"], "hard-linked name"),
            " of " + _n(links["inodes"], "file") if links["inodes"] else "",
            " (%s more than the source holds)" % human_bytes(links["duplicated_bytes"])
            if links["duplicated_bytes"] else ""))
    if sparse["files"]:
        out.append("%s less than %s size (sparse, compressed, or released by an HSM: a "
                   "read recalls them): %s apparent, %s allocated; copied in full"
                   % (_n(sparse["files"], "file allocates", "files allocate"),
                      "its" if sparse["files"] == 1 else "their", human_bytes(sparse["bytes"]),
                      human_bytes(sparse["allocated"])))
    moved = section["changed_since_crawl"]
    if moved["vanished"] or moved["changed"]:
        out.append("the source moved on during the pass: %d vanished, %d changed since the "
                   "crawl" % (moved["vanished"], moved["changed"]))
    return out


def _n(count, one, many=None):
    """"1 file", "2 files"."""
    return "%d %s" % (count, one if count == 1 else (many or one + "s"))


def _short(path, most=100):
    """A path for a summary line: a key over the store's limit is long by nature."""
    return path if len(path) <= most else "%s...%s (%d characters)" % (
        path[:40], path[-40:], len(path))


def _money(value):
    return "%.2f" % value if value >= 10 else "%.4g" % value


def _estimate_lines(section):
    out = []
    bill = section["cost"]
    if bill:
        parts = ", ".join("%s %s" % (k.replace("_", " "), _money(v))
                          for k, v in bill["lines"].items())
        currency = bill["currency"] or "no currency given"
        out.append("estimated cost (%s, at datamover_prices): %s" % (currency, parts))
    else:
        out.append("no cost estimate: give datamover_prices (per_1000_writes, per_1000_lists, "
                   "per_gb_month, currency)")
    when = section["time"]
    if when:
        out.append("estimated moving time: %s (bound by %s)" % (
            human_seconds(when["seconds"]), when["bound_by"].replace("_", " ")))
    else:
        out.append("no time estimate: give datamover_plan_bytes_per_second and/or "
                   "datamover_plan_files_per_second")
    return out


def markdown(section):
    """report.md's plan-only tables."""
    out = ["", "## Size histogram", "", "| size | files | bytes |", "|---|---:|---:|"]
    out += ["| %s | %d | %s |" % (r["bucket"], r["files"], human_bytes(r["bytes"]))
            for r in section["histogram"]]
    out += ["", "## Largest files", "", "| bytes | path |", "|---:|---|"]
    out += ["| %s | `%s` |" % (human_bytes(r["bytes"]), r["path"]) for r in section["largest"]]
    out += ["", "## Deepest and longest paths", ""]
    out += ["- depth %d: `%s`" % (r["depth"], r["path"]) for r in section["deepest"]]
    out += ["- %d bytes: `%s`" % (r["length"], r["path"]) for r in section["longest"]]
    for key, title in (("unrepresentable", "Names the destination cannot hold"),
                       ("special", "Special files")):
        if section[key]["count"]:
            out += ["", "## %s: %d" % (title, section[key]["count"]), ""]
            out += ["- `%r`" % (s,) for s in section[key]["samples"]]
    if section["sparse"]["samples"]:
        out += ["", "## Files that allocate less than their size: %d" % section["sparse"]["files"],
                ""]
        out += ["- `%s`: %s apparent, %s allocated" % (p, human_bytes(a), human_bytes(b))
                for p, a, b in section["sparse"]["samples"]]
    return out

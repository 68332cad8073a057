# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.html: the run's report as one self-contained page, charts included.

Everything is inline (styles, SVG drawn here): the page opens from a file share, an AWX
artifact or a mail attachment with no network, and shows the same thing in any browser. The
charts come from report["timeline"] (report.py), built from the partitions' results.
"""
from __future__ import annotations

import html
import json

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    human_bytes,
    human_seconds,
)

RUN_COLOUR = "#1f4e9c"
WORKER_COLOURS = ("#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c",
                  "#5c940d", "#364fc7")
WIDTH, HEIGHT, LEFT = 800, 230, 76

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.status{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff}
.succeeded{background:#2b8a3e}.failed{background:#c92a2a}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f1f3f5}td.n{text-align:right}
code{font-size:12px;word-break:break-all}svg{background:#fff;border:1px solid #ddd}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
"""


def _e(text):
    return html.escape("" if text is None else str(text), quote=True)


def _chart(title, series, step, start_label, fmt):
    """One SVG line chart: series = [(label, colour, width, [y per bin])]."""
    bins = max((len(s[3]) for s in series), default=0)
    top = max((max(s[3]) for s in series if s[3]), default=0) or 1.0
    left, right, above, below = LEFT, 16, 14, 40
    inner_w, inner_h = WIDTH - left - right, HEIGHT - above - below
    bottom = HEIGHT - below
    out = ['<svg role="img" aria-label="%s" width="%d" height="%d" viewBox="0 0 %d %d" '
           'xmlns="http://www.w3.org/2000/svg">' % (_e(title), WIDTH, HEIGHT, WIDTH, HEIGHT)]
    for k in range(5):  # grid and y labels
        y = above + inner_h * k / 4.0
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e9ecef"/>'
                   % (left, y, WIDTH - right, y))
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#555">%s'
                   '</text>' % (left - 4, y + 3, _e(fmt(top * (4 - k) / 4.0))))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>'
               % (left, bottom, WIDTH - right, bottom))
    span = bins * step
    for k in range(5):  # x labels: time since the start
        x = left + inner_w * k / 4.0
        out.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#555">%s'
                   '</text>' % (x, bottom + 14, _e(_when(span * k / 4.0, span))))
    out.append('<text x="%d" y="%d" font-size="10" fill="#555">time since %s</text>'
               % (left, HEIGHT - 6, _e(start_label)))
    for label, colour, width, values in series:
        if not values:
            continue
        points = []
        for i, value in enumerate(values):
            x = left + inner_w * (i + 0.5) / max(1, bins)
            y = above + inner_h * (1 - value / top)
            points.append("%.1f,%.1f" % (x, y))
        if len(points) == 1:
            points.append(points[0])
        out.append('<polyline class="series" data-label="%s" fill="none" stroke="%s" '
                   'stroke-width="%s" points="%s"/>' % (_e(label), colour, width,
                                                        " ".join(points)))
    out.append("</svg>")
    legend = "".join('<span><i style="background:%s"></i>%s</span>' % (c, _e(label))
                     for label, c, _w, v in series if v)
    return '<h2>%s</h2>\n%s\n<div class="legend">%s</div>' % (_e(title), "".join(out), legend)


def _when(seconds, span):
    return "%.1f s" % seconds if span < 60 else human_seconds(seconds)


def _cumulative(values, step):
    out, total = [], 0.0
    for value in values:
        total += value * step
        out.append(total)
    return out


def _table(head, rows, numeric=()):
    out = ["<table><tr>%s</tr>" % "".join("<th>%s</th>" % _e(h) for h in head)]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join(
            '<td%s>%s</td>' % (' class="n"' if i in numeric else "", cell)
            for i, cell in enumerate(row)))
    out.append("</table>")
    return "\n".join(out)


def _settings_html(report):
    settings = dict(report.get("settings") or {}, source=report["source"],
                    destination=report["destination"])
    planned = report.get("planned") or {}
    settings.update({"planned files": planned.get("files"),
                     "planned bytes": human_bytes(planned.get("bytes") or 0),
                     "crawl engine": planned.get("engine"),
                     "partitions": report["partitions"]["total"]})
    return ["<h2>Settings</h2>", _table(("setting", "value"), [
        (_e(k), "<code>%s</code>" % _e(v if isinstance(v, str) else json.dumps(v)))
        for k, v in sorted(settings.items())])]


def _bars(title, rows):
    """One SVG bar chart of the size histogram: rows = [(label, files, bytes)], a bar of files
    and one of bytes per bucket, each scaled to its own largest."""
    top_files = max((r[1] for r in rows), default=0) or 1
    top_bytes = max((r[2] for r in rows), default=0) or 1
    row_h, label_w = 22, 190
    half = (WIDTH - label_w - 24) / 2.0
    height = row_h * len(rows) + 30
    out = ['<svg role="img" aria-label="%s" class="histogram" width="%d" height="%d" '
           'viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg">'
           % (_e(title), WIDTH, height, WIDTH, height),
           '<text x="%d" y="14" font-size="11" fill="#555">files</text>' % label_w,
           '<text x="%.1f" y="14" font-size="11" fill="#555">bytes</text>' % (label_w + half + 12)]
    for i, (label, files, nbytes) in enumerate(rows):
        y = 22 + i * row_h
        out.append('<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#222">%s</text>'
                   % (label_w - 6, y + 12, _e(label)))
        for x0, value, top, colour, text in (
                (label_w, files, top_files, RUN_COLOUR, str(files)),
                (label_w + half + 12, nbytes, top_bytes, WORKER_COLOURS[0], human_bytes(nbytes))):
            width = max(0.0, (half - 70) * value / float(top))
            values = (_e(label), x0, y + 2, width, colour, x0 + width + 4, y + 13, _e(text))
            out.append('<rect class="bar" data-bucket="%s" x="%.1f" y="%d" width="%.1f" '
                       'height="14" fill="%s"/><text x="%.1f" y="%d" font-size="10" '
                       'fill="#555">%s</text>' % values)
    out.append("</svg>")
    return '<h2>%s</h2>\n%s' % (_e(title), "".join(out))


def _plan_html(section):
    """datamover_plan_only: the size histogram and the largest files."""
    out = [_bars("Size histogram", [(r["bucket"], r["files"], r["bytes"])
                                    for r in section["histogram"]])]
    out.append("<h2>Largest files</h2>")
    out.append(_table(("bytes", "path"), [
        (_e(human_bytes(r["bytes"])), "<code>%s</code>" % _e(r["path"]))
        for r in section["largest"]], numeric=(0,)))
    return out


def render_html(report, summary):
    """The page. ``summary`` is report.summary_lines(report)."""
    tl = report.get("timeline") or {}
    step = tl.get("step") or 1.0
    run = tl.get("run") or []
    workers = sorted((tl.get("workers") or {}).items())
    colours = {host: WORKER_COLOURS[i % len(WORKER_COLOURS)] for i, (host, _v) in
               enumerate(workers)}
    rate = [("run", RUN_COLOUR, 3, run)] + [
        ("worker %s" % host, colours[host], 1.5, values) for host, values in workers]
    cumul = [(label, colour, width, _cumulative(values, step))
             for label, colour, width, values in rate]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>datamover run %s</title>" % _e(report["run_id"]),
             "<style>%s</style></head><body>" % STYLE,
             '<h1>datamover run <code>%s</code> <span class="status %s">%s</span></h1>'
             % (_e(report["run_id"]), _e(report["status"]), _e(report["status"]))]
    parts.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _e(line) for line in summary[1:]))
    if report.get("plan_only"):
        parts += _plan_html(report["plan_only"])
    elif run:
        start = tl.get("start_utc") or "the first partition"
        parts.append(_chart("Throughput", rate, step, start,
                            lambda v: human_bytes(v) + "/s"))
        parts.append(_chart("Bytes moved (cumulative)", cumul, step, start, human_bytes))
    else:
        parts.append("<p>No partition has finished: nothing to chart yet.</p>")
    parts.append("<h2>Workers</h2>")
    parts.append(_table(("host", "partitions", "files", "bytes"), [
        (_e(host), row["partitions"], row["files"], _e(human_bytes(row["bytes"])))
        for host, row in sorted(report["workers"].items())], numeric=(1, 2, 3)))
    lost = report.get("files_not_copied") or {}
    parts.append("<h2>Failures</h2>")
    if report["failed_partitions"]:
        parts.append(_table(("partition", "error", "class", "attempts", "logs"), [
            ("%06d" % f["part"], _e(f["error"]), _e(", ".join(f.get("classes") or [])),
             f["attempts"], "<br>".join("<code>%s</code>" % _e(p) for p in f["logs"]))
            for f in report["failed_partitions"]], numeric=(3,)))
    if lost.get("count"):
        parts.append("<p>%d files not copied; every one is listed in <code>%s</code>%s.</p>"
                     % (lost["count"], _e(lost["list"]),
                        ", the first %d here" % len(lost["samples"])
                        if len(lost["samples"]) < lost["count"] else ""))
        parts.append(_table(("path", "reason", "class", "partition", "attempt"), [
            ("<code>%s</code>" % _e(r["path"]), _e(r["reason"]),
             _e(r.get("class") or "not a failure"),
             "%06d" % r["partition"] if r.get("partition") else "", _e(r.get("attempt") or ""))
            for r in lost["samples"]]))
    if not report["failed_partitions"] and not lost.get("count"):
        parts.append("<p>None: every partition was surveyed (nothing moved).</p>"
                     if report.get("plan_only") else
                     "<p>None: every planned file is at the destination and verified.</p>")
    parts += _settings_html(report)
    parts.append("<p>Run directory: <code>%s</code>; generated %s.</p>"
                 % (_e(report["run_dir"]), _e(report["generated"])))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

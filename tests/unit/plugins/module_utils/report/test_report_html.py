"""report.html (issue 13, point 4): self-contained, and its charts render in a real browser.

A real run (two workers, rsync behind a wrapper that loses one file for good), its report,
then Debian's headless Chromium takes a screenshot and the chart's colours must be on it."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import threading
import zlib

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.report.report_html import (
    RUN_COLOUR,
    WORKER_COLOURS,
)
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.unit.helpers import new_run, write, write_script

RSYNC = shutil.which("rsync")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30}


def _run(tmp_path):
    src = tmp_path / "src"
    for d in range(4):
        for i in range(5):
            write(str(src / ("d%d" % d) / ("f%d" % i)), b"x" * (200 * 1024))
    dst = tmp_path / "dst"
    dst.mkdir()
    rundir, _ = new_run(tmp_path / "shared", "html", str(src), str(dst), partition_files=2,
                        tool_options=["--bwlimit=1M"])
    wrapper = write_script(tmp_path / "rsync", '%s "$@" || exit $?\nrm -f %s'
                           % (RSYNC, dst / "d3" / "f4"))
    workers = [threading.Thread(target=Worker(rundir, host, slots=1, retries=0, binary=wrapper,
                                              **FAST).run) for host in ("w1", "w2")]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    return rundir, make_report(rundir)


def _png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of a non-interlaced 8-bit PNG."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6)
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def _count(rows, bpp, colour):
    rgb = bytes.fromhex(colour.lstrip("#"))
    return sum(sum(1 for x in range(0, len(row), bpp) if row[x:x + 3] == rgb) for row in rows)


@pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
def test_the_html_report_is_self_contained_and_complete(tmp_path):
    rundir, out = _run(tmp_path)
    path = out["report_html"]
    assert path == rundir.html_report_path() and os.path.dirname(path) == rundir.path
    with open(path, encoding="utf-8") as handle:
        page = handle.read()
    # nothing to fetch: no scripts, styles or images from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page, re.I)
    assert "url(" not in page and "@import" not in page
    assert page.count('<polyline class="series"') == 2 * 3  # run + 2 workers, two charts
    assert "d3/f4" in page and "missing at destination" in page  # the failures table
    assert "[&quot;--bwlimit=1M&quot;]" in page  # the settings
    assert out["summary"][-1] == "HTML report: %s" % path


@pytest.mark.skipif(RSYNC is None or CHROMIUM is None,
                    reason="needs rsync and chromium (apt-get install -y chromium)")
def test_the_chart_renders_in_headless_chromium(tmp_path):
    _rundir, out = _run(tmp_path)
    shot = os.environ.get("DM_SHOT") or str(tmp_path / "shot.png")
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=960,900",
                           "--screenshot=" + shot, "file://" + out["report_html"]],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                          check=False, env=dict(os.environ, HOME=str(tmp_path)))
    assert os.path.exists(shot), proc.stderr.decode("utf-8", "replace")[-2000:]
    _w, _h, bpp, rows = _png_pixels(shot)
    assert _count(rows, bpp, RUN_COLOUR) > 300, "the run's line is not on the page"
    for colour in WORKER_COLOURS[:2]:
        assert _count(rows, bpp, colour) > 100, "a worker's line (%s) is not drawn" % colour

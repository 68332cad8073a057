"""report.build_report / render_markdown on run directories made with the real APIs."""
from __future__ import annotations

import json
import os
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Entry
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    PartWriter,
)
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import (
    build_report,
    render_markdown,
    summary_lines,
    write_report,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
    RunState,
    make_token,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    Verification,
)

# partition -> sizes of its files (3 parts of 2 entries: max_files=2)
SIZES = [100, 200, 300, 400, 500, 600]


@pytest.fixture
def rundir(tmp_path):
    rd = RunDir(str(tmp_path / "shared"), "rep-1")
    # the plan below has one unreadable directory: tolerated here, see test_unreadable_fails
    rd.create_or_check({"source": "/data/src", "destination": "oci:bucket/x", "tool": "rclone",
                        "tolerate": ["unreadable"]})
    writer = PartWriter(rd, 2, 10 ** 9)
    for i, size in enumerate(SIZES):
        writer.add(Entry(b"f%d" % i, "f", size, 1))
    writer.add(Entry(b"emptydir", "d", 0, 0))  # a 4th partition: one empty directory
    writer.close()
    rd.write_plan({"engine": "native", "parts": writer.next_id - 1, "files": writer.total_files,
                   "bytes": writer.total_bytes, "seconds": 0.5, "crawl_errors": 1,
                   "crawl_error_samples": [["locked", "Permission denied"]], "skipped": 1,
                   "skipped_samples": [["fifo", "special file (device, fifo or socket) not copied"]]})
    return rd


def _settle(rd, part, host, ok=True, attempts=1, mismatches=0, error="rclone exited with code 1",
            unrepresentable=0):
    """Record a partition the way the worker does: claim, result json, finish/fail."""
    state = RunState(rd)
    lease = state.claim(part, make_token(host))
    assert lease is not None
    entries = list(rd.read_manifest(part))
    files = sum(1 for e in entries if e[0] != "d")
    nbytes = sum(e[1] for e in entries)
    history = []
    for n in range(1, attempts + 1):
        last = n == attempts
        history.append({"attempt": n, "host": host, "rc": 0 if (ok and last) else 1,
                        "error": None if (ok and last) else error, "seconds": 0.1,
                        "log": "logs/%06d.%d.log" % (part, n)})
    ver = Verification(files=files if ok else 0, bytes=nbytes if ok else 0,
                       mismatches=[["f", "missing at destination"]] * mismatches,
                       unrepresentable=[["long", "too long"]] * unrepresentable)
    now = time.time()
    atomic_write_json(rd.result_path(part), {
        "part": part, "status": "done" if ok else "failed", "host": host, "token": lease.token,
        "files": files, "bytes": nbytes, "seconds": 2.0, "finished": now, "attempts": history,
        "skipped": [["emptydir", "empty directory"]] if part == 4 else [],
        "verified": ver.as_dict()})
    assert (state.finish(lease) if ok else state.fail(lease))


def test_all_done_succeeds_with_per_worker_totals(rundir):
    _settle(rundir, 1, "w1")
    _settle(rundir, 2, "w2")
    _settle(rundir, 3, "w1")
    _settle(rundir, 4, "w2")
    rep = build_report(rundir)
    assert rep["status"] == "succeeded"
    assert rep["run_id"] == "rep-1"
    assert (rep["source"], rep["destination"], rep["tool"]) == ("/data/src", "oci:bucket/x",
                                                                "rclone")
    assert rep["files"] == 6 and rep["bytes"] == sum(SIZES)
    assert rep["partitions"] == {"total": 4, "done": 4, "failed": 0, "todo": 0, "claimed": 0}
    assert rep["workers"] == {
        "w1": {"partitions": 2, "files": 4, "bytes": 100 + 200 + 500 + 600},
        "w2": {"partitions": 2, "files": 2, "bytes": 300 + 400},
    }
    assert rep["verified"] == {"files": 6, "bytes": sum(SIZES), "mismatches": 0}
    assert rep["failed_partitions"] == []
    assert rep["crawl_errors"] == {"count": 1, "samples": [["locked", "Permission denied"]]}
    assert rep["not_copied"]["count"] == 1
    assert rep["skipped"]["count"] == 1
    assert rep["planned"]["files"] == 6 and rep["planned"]["engine"] == "native"
    assert rep["seconds"] > 0 and rep["bytes_per_second"] > 0
    assert "## Failed partitions" not in render_markdown(rep)


def test_unreadable_fails_the_run_unless_tolerated(rundir):
    for part in (1, 2, 3, 4):
        _settle(rundir, part, "w1")
    assert build_report(rundir)["status"] == "succeeded"  # tolerated by the fixture's run
    rundir.create_or_check(dict(rundir.load(), tolerate=[]))
    rep = build_report(rundir)
    assert rep["status"] == "failed" and rep["untolerated"] == {"unreadable": 1}
    assert rep["partitions"]["failed"] == 0
    assert "1 unreadable during the crawl" in "\n".join(summary_lines(rep))


def test_failed_partition_fails_the_run_and_lists_its_logs(rundir):
    _settle(rundir, 1, "w1")
    _settle(rundir, 2, "w2", ok=False, attempts=3, error="rclone exited with code 7")
    _settle(rundir, 3, "w1")
    _settle(rundir, 4, "w2")
    rep = build_report(rundir)
    assert rep["status"] == "failed"
    assert rep["partitions"]["failed"] == 1 and rep["partitions"]["done"] == 3
    logs = [os.path.join(rundir.path, "logs", "000002.%d.log" % n) for n in (1, 2, 3)]
    assert rep["failed_partitions"] == [{"part": 2, "error": "rclone exited with code 7",
                                         "attempts": 3, "classes": [], "logs": logs}]
    # the failed partition's files are not counted as moved, nor for its worker
    assert rep["files"] == 4 and rep["bytes"] == sum(SIZES) - 300 - 400
    assert rep["workers"]["w2"] == {"partitions": 1, "files": 0, "bytes": 0}
    md = render_markdown(rep)
    assert "## Failed partitions" in md
    section = md.split("## Failed partitions", 1)[1]
    assert "000002" in section and "rclone exited with code 7" in section
    for log in logs:
        assert log in section
    assert "FAILED" in summary_lines(rep)[0]


def test_mismatch_fails_the_run(rundir):
    _settle(rundir, 1, "w1")
    _settle(rundir, 2, "w1", mismatches=2)
    _settle(rundir, 3, "w1")
    _settle(rundir, 4, "w1")
    rep = build_report(rundir)
    assert rep["verified"]["mismatches"] == 2
    assert rep["status"] == "failed"


def test_unfinished_run_is_not_succeeded(rundir):
    _settle(rundir, 1, "w1")
    _settle(rundir, 2, "w1")
    _settle(rundir, 3, "w1")
    rep = build_report(rundir)
    assert rep["status"] == "failed"
    assert rep["partitions"]["todo"] == 1


def test_a_stop_says_what_it_stopped_and_never_contradicts_a_complete_run(rundir):
    _settle(rundir, 1, "w1")
    rundir.request_stop("stopped by hand")
    stopped = "\n".join(summary_lines(build_report(rundir)))
    assert "STOPPED by the STOP file" in stopped and "3 partitions not attempted" in stopped
    for part in (2, 3, 4):
        _settle(rundir, part, "w1")
    done = build_report(rundir)
    lines = "\n".join(summary_lines(done))
    assert done["status"] == "succeeded" and "STOPPED" not in lines
    assert "came after every partition had settled: nothing was left to stop" in lines


def test_run_without_plan_is_not_succeeded(tmp_path):
    rd = RunDir(str(tmp_path / "shared"), "noplan")
    rd.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    rep = build_report(rd)
    assert rep["status"] == "failed"
    assert rep["partitions"]["total"] == 0


def test_unrepresentable_and_markdown_sections(rundir):
    for part in (1, 2, 3, 4):
        _settle(rundir, part, "w1", unrepresentable=1 if part == 3 else 0)
    rep = build_report(rundir)
    assert rep["unrepresentable"] == {"count": 1, "samples": [["long", "too long"]]}
    md = render_markdown(rep)
    assert "Names the destination cannot hold (not copied): 1" in md
    assert "Unreadable during the crawl: 1" in md
    assert "Not copied (special files): 1" in md
    assert "| w1 | 4 | 6 |" in md
    assert rundir.path in md


def test_write_report(rundir):
    for part in (1, 2, 3, 4):
        _settle(rundir, part, "w1")
    rep = build_report(rundir, started=time.time() - 10)
    json_path, md_path = write_report(rundir, rep)
    with open(json_path) as handle:
        assert json.load(handle) == rep
    with open(md_path, encoding="utf-8") as handle:
        assert handle.read() == render_markdown(rep)
    assert rep["seconds"] >= 9

"""Every file not copied is named (issue 13, point 2): a real worker (rsync behind a wrapper
that loses files for good), then the report: counts that add up, the complete list."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.unit.helpers import new_run, part_ids, write, write_script

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30}
LOST = {b"d0/f3", b"d1/f3", b"d2/f3", b"d2/bad-\xff"}


def _run(tmp_path, binary_body, vanish=False):
    src = os.fsencode(str(tmp_path / "src"))
    for d in range(3):
        for i in range(6):
            write(os.path.join(src, b"d%d" % d, b"f%d" % i), b"x" * (d * 10 + i + 1))
    write(os.path.join(src, b"d2", b"bad-\xff"), b"latin-1")
    dst = tmp_path / "dst"
    dst.mkdir()
    rundir, _ = new_run(tmp_path / "shared", "nc", os.fsdecode(src), str(dst), partition_files=4)
    assert len(part_ids(rundir)) >= 4
    wrapper = write_script(tmp_path / "rsync", binary_body % {"rsync": RSYNC, "dst": dst})
    worker = Worker(rundir, "w1", slots=2, retries=2, binary=wrapper, **FAST)
    if vanish:  # found when the worker started, gone when it runs
        os.unlink(wrapper)
    worker.run()
    return rundir, make_report(rundir)


def _records(rundir):
    with open(rundir.not_copied_path(), "rb") as handle:
        return [json.loads(line) for line in handle.read().splitlines()]


def _raw(rec):
    return bytes.fromhex(rec["path_hex"]) if "path_hex" in rec else rec["path"].encode()


def test_every_file_lost_in_failed_partitions_is_named_and_counts_agree(tmp_path):
    # rsync runs, then the "store" loses the same files every time: they fail each attempt.
    rundir, out = _run(tmp_path, '%(rsync)s "$@" || exit $?\n'
                                 'rm -f %(dst)s/d0/f3 %(dst)s/d1/f3 %(dst)s/d2/f3 '
                                 '%(dst)s/d2/bad-$(printf "\\377")')
    rep = out["report"]
    planned = rundir.plan()["files"]
    assert rep["status"] == "failed" and rep["partitions"]["failed"] >= 3
    recs = _records(rundir)
    assert {_raw(r) for r in recs} == LOST, "every lost file is named, and only those"
    failed_parts = {f["part"] for f in rep["failed_partitions"]}
    for rec in recs:
        assert rec["reason"] == "missing at destination" and rec["class"] == "transient"
        assert rec["attempt"] == 3 and rec["partition"] in failed_parts
    bad = [r for r in recs if "path_hex" in r]
    assert [r["path"] for r in bad] == ["d2/bad-\\xff"]
    # every count agrees with every other
    assert rep["verified"]["mismatches"] == len(LOST)
    assert rep["files_not_copied"]["count"] == len(LOST)
    assert rep["files_not_copied"]["list"] == rundir.not_copied_path()
    assert rep["source_files"] == {"planned": planned, "verified": planned - len(LOST),
                                   "not_copied": len(LOST)}
    line = "%d of %d source files verified; %d not copied (%d transient) (list: %s)" % (
        planned - len(LOST), planned, len(LOST), len(LOST), rundir.not_copied_path())
    assert line in out["summary"]
    with open(out["report_md"], encoding="utf-8") as handle:
        md = handle.read()
    assert line in md and "## Files not copied: 4" in md
    for failed in rep["failed_partitions"]:
        assert failed["classes"] == ["transient"]


def test_a_partition_that_never_verified_lists_all_its_files(tmp_path):
    # the tool fails on every attempt before it copies anything
    rundir, out = _run(tmp_path, 'exit 12')
    rep = out["report"]
    planned = rundir.plan()["files"]
    recs = _records(rundir)
    assert len(recs) == planned == rep["files_not_copied"]["count"]
    assert rep["verified"]["mismatches"] == planned and rep["verified"]["files"] == 0
    assert {r["reason"] for r in recs} == {"missing at destination"}
    assert "0 of %d source files verified; %d not copied" % (planned, planned) \
        in "\n".join(out["summary"])


def test_a_tool_that_cannot_even_start_leaves_every_file_named_and_counted(tmp_path):
    rundir, out = _run(tmp_path, 'exec %(rsync)s "$@"', vanish=True)
    rep = out["report"]
    planned = rundir.plan()["files"]
    recs = _records(rundir)
    assert len(recs) == planned == rep["files_not_copied"]["count"]
    assert rep["verified"]["mismatches"] == planned
    assert all(r["reason"].startswith("not verified: cannot run ") for r in recs), recs[0]

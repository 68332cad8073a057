"""Fault 5: the source changes mid-run. Deterministic: the plan is made (the crawl records
every file's size and mtime), then the test changes the source, then the workers move and
verify it, against real rsync and real rclone + SeaweedFS. A file that grew is reported as
changed, a deleted one as vanished, a new one as not in the plan; none is a false "verified",
nothing else is lost or sent twice, and an incremental pass catches up."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker
from tests.lab.trees import sample_tree

FAST = dict(slots=2, retries=2, backoff=0.05, backoff_max=0.1, poll=0.05, lease_seconds=30,
            batch=4)


def _tree(src):
    files, _nbytes = sample_tree(str(src), files=120, big_files=0)
    os.makedirs(src / "live")
    for i in range(5):
        (src / "live" / ("f%d.txt" % i)).write_bytes(b"x" * (100 + i))
    return files + 5


def _plan(shared, run_id, src, dst, tool, **extra):
    rundir = RunDir(str(shared), run_id)
    make_plan(rundir, plan_defaults(source=str(src), destination=str(dst), tool=tool,
                                    partition_files=20, partition_bytes=10 ** 9, threads=2,
                                    **extra))
    return rundir


def _change_source(src):
    """After the crawl, before any transfer: one file grows, one goes, one is added."""
    time.sleep(0.01)
    with open(src / "live" / "f1.txt", "ab") as handle:
        handle.write(b"grown after the crawl" * 10)
    os.unlink(src / "live" / "f2.txt")
    (src / "live" / "added.txt").write_bytes(b"new after the crawl")


def _results(rundir):
    out = []
    for name in sorted(os.listdir(rundir.p("results"))):
        with open(rundir.p("results", name)) as handle:
            out.append(json.load(handle))
    return out


def _not_copied(rundir):
    with open(rundir.not_copied_path()) as handle:
        return {r["path"]: r for r in map(json.loads, handle)}


def _check_first_pass(rundir, planned, out):
    rep = out["report"]
    # the run fails (a changed file is not the planned version), naming each file
    assert rep["status"] == "failed" and rep["untolerated"] == {"changed": 1}
    assert rep["partitions"]["failed"] == 0 and rep["failed_partitions"] == []
    assert rep["changed"]["count"] == 1 and rep["vanished"]["count"] == 1
    assert rep["changed"]["samples"][0][0] == "live/f1.txt"
    assert "size 101 -> 311" in rep["changed"]["samples"][0][1]
    assert rep["vanished"]["samples"] == ["live/f2.txt"]
    # never a false "verified": every other file is, those two are not
    assert rep["verified"]["files"] == planned - 2 and rep["verified"]["mismatches"] == 0
    lost = _not_copied(rundir)
    assert set(lost) == {"live/f1.txt", "live/f2.txt"}
    assert lost["live/f1.txt"]["class"] == "source changed"
    assert "vanished" in lost["live/f2.txt"]["reason"] and lost["live/f2.txt"]["class"] is None
    text = "\n".join(out["summary"])
    assert "SOURCE CHANGED during the run: 1 changed, 1 vanished" in text
    assert "datamover_since=%s" % rundir.run_id in text
    assert "Changed in the source during the run" in open(rundir.report_paths()[1]).read()
    # nothing sent twice: a source change is not retried (no retry of this plan can fix it)
    assert all(len(r["attempts"]) == 1 for r in _results(rundir)), [
        r["attempts"] for r in _results(rundir) if len(r["attempts"]) > 1]


def _catch_up(shared, src, dst, tool, planned, **extra):
    """The incremental pass the report asks for moves the new version and the new file."""
    rundir = _plan(shared, "catch-up", src, dst, tool, since="first", **extra)
    Worker(rundir, "w1", **FAST, **({"rclone_config": extra["rclone_config"]}
                                    if "rclone_config" in extra else {})).run()
    out = make_report(rundir)
    rep = out["report"]
    assert rep["status"] == "succeeded", out["summary"]
    inc = rep["incremental"]
    assert (inc["new"], inc["changed"], inc["deleted"]) == (1, 1, 1)
    assert rep["verified"]["files"] == 2 and rep["changed"]["count"] == 0
    return rep


@pytest.mark.skipif(os.environ.get("CI_SKIP_RSYNC") == "1", reason="no rsync")
def test_rsync_source_changed_after_the_crawl(tmp_path):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    planned = _tree(src)
    rundir = _plan(shared, "first", src, dst, "rsync")
    _change_source(src)
    Worker(rundir, "w1", **FAST).run()
    out = make_report(rundir)
    _check_first_pass(rundir, planned, out)
    # nothing lost: every file the source still has as planned is at the destination, equal
    for dirpath, _dirs, names in os.walk(src):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            if rel in ("live/f1.txt", "live/added.txt"):
                continue
            with open(os.path.join(dirpath, name), "rb") as a, open(dst / rel, "rb") as b:
                assert a.read() == b.read(), rel
    # rsync walked live/ whole (a directory in one partition) and carried the new file along:
    # the report says it is not in the plan, and that the next pass records it
    assert out["report"]["not_in_plan"]["count"] == 1
    assert "1 files not in the plan" in "\n".join(out["summary"])
    _catch_up(shared, src, dst, "rsync", planned)
    assert (dst / "live" / "f1.txt").read_bytes() == (src / "live" / "f1.txt").read_bytes()


def test_s3_source_changed_after_the_crawl(tmp_path, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    planned = _tree(src)
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dst = "dmtest:dmtest/%s" % tmp_path.name
    rundir = _plan(shared, "first", src, dst, "rclone", rclone_config=conf)
    _change_source(src)
    Worker(rundir, "w1", rclone_config=conf, **FAST).run()
    out = make_report(rundir)
    _check_first_pass(rundir, planned, out)
    _catch_up(shared, src, dst, "rclone", planned, rclone_config=conf)


def test_playbook_fails_naming_the_changed_file_and_how_to_catch_up(tmp_path, playbook):
    """Through migrate.yml: a file of a partition still waiting is rewritten mid-run. The play
    fails (nothing else is wrong), names the file, and says to run an incremental pass."""
    import threading

    from tests.integration.test_migrate_local import _vars
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, _nbytes = sample_tree(str(src), files=200, big_files=0)
    out = {}
    thread = threading.Thread(target=lambda: out.update(run=playbook(_vars(
        src, dst, shared, datamover_run_id="live", datamover_partition_files=10,
        datamover_slots=1, datamover_tool_options=["--bwlimit=100"]))))
    thread.start()
    run_dir = shared / "live"
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / "plan.json").exists():
        time.sleep(0.1)
    with open(run_dir / "plan.json") as handle:
        last = json.load(handle)["parts"]
    rundir = RunDir(str(shared), "live")
    victim = next(e for e in rundir.read_manifest(last) if e[0] == "f")[3].decode()
    assert (run_dir / "state" / "todo" / ("%06d" % last)).exists(), "moved too fast to test"
    with open(src / victim, "ab") as handle:
        handle.write(b"rewritten mid-run" * 100)
    thread.join(600)
    run = out["run"]
    assert run.rc != 0
    rep = run.report
    assert rep["status"] == "failed" and rep["partitions"]["failed"] == 0
    assert rep["changed"]["count"] == 1 and rep["changed"]["samples"][0][0] == victim
    assert rep["verified"]["files"] == files - 1
    assert "Changed in the source during the run" in run.stdout
    assert "datamover_since=live" in run.stdout and "SOURCE CHANGED" in run.stdout
    assert "not the planned version (%s;" % victim in run.stdout
    assert "unreadable" not in run.stdout and "to retry what failed" not in run.stdout

"""migrate.yml end to end on inventories/local (this machine as 2 workers x 2 slots), through
ansible-runner, against real rsync, real rclone and a real S3 server (SeaweedFS)."""
from __future__ import annotations

import os
import subprocess

from tests.conftest import ROOT
from tests.lab.seaweed import rclone_binary
from tests.lab.trees import diff_trees, hostile_tree, sample_tree


def _pwned(*roots):
    return [os.path.join(d, "datamover-pwned") for r in roots for d, _, names in os.walk(r)
            if "datamover-pwned" in names]


def _vars(src, dst, shared, tool="rsync", **extra):
    base = {"datamover_source": str(src), "datamover_destination": str(dst),
            "datamover_tool": tool, "datamover_shared_dir": str(shared),
            "datamover_watch_interval": 2, "datamover_backoff": 0.2}
    base.update(extra)
    return base


def test_rsync_sample_tree_is_identical(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, nbytes = sample_tree(str(src), files=1500, big_files=2, big_mib=4)
    run = playbook(_vars(src, dst, shared, datamover_partition_files=200,
                         datamover_run_id="rsync-sample"))
    assert run.rc == 0, run.stdout[-4000:]
    assert diff_trees(src, dst) == []
    rep = run.report
    assert rep["status"] == "succeeded"
    assert rep["files"] == files and rep["bytes"] == nbytes
    assert rep["partitions"]["total"] == rep["partitions"]["done"] >= 8
    assert rep["partitions"]["failed"] == 0
    assert rep["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
    assert sum(w["files"] for w in rep["workers"].values()) == files
    assert "SUCCEEDED" in run.stdout and "report.json" in run.stdout
    assert os.path.exists(os.path.join(str(shared), "rsync-sample", "report.md"))


def test_rsync_hostile_names_survive(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    hostile_tree(str(src))
    run = playbook(_vars(src, dst, shared, datamover_partition_files=5))
    assert run.rc == 0, run.stdout[-4000:]
    assert diff_trees(src, dst) == []
    # a name that is a shell command was never run anywhere
    assert _pwned(tmp_path, ROOT, os.path.expanduser("~")) == []
    assert sorted(os.listdir(tmp_path)) == ["dst", "runner", "shared", "src"]


def test_rclone_to_s3_copies_back_identical(tmp_path, playbook, s3):
    src, shared = tmp_path / "src", tmp_path / "shared"
    files, nbytes = sample_tree(str(src), files=800, big_files=1, big_mib=3)
    hostile_tree(str(src / "hostile"))
    # rclone cannot read this name back from a local disk: reported, never dropped silently
    (src / "hostile" / "quote\u201bmark").write_text("unmovable")
    shared.mkdir()
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dest = "dmtest:dmtest/%s" % tmp_path.name
    # SeaweedFS turns "\\" into "/" (see the next test); real S3 and OCI keep it.
    run = playbook(_vars(src, dest, shared, tool="rclone", datamover_rclone_config=conf,
                         datamover_partition_files=150, datamover_run_id="s3-run",
                         datamover_excludes=["*\\*"],
                         datamover_tolerate=["unrepresentable"]))
    assert run.rc == 0, run.stdout[-4000:]
    rep = run.report
    assert rep["status"] == "succeeded" and rep["verified"]["mismatches"] == 0
    assert rep["unrepresentable"]["count"] == 1
    assert "quote\u201bmark" in rep["unrepresentable"]["samples"][0][0]
    assert "1 names the destination cannot hold" in run.stdout
    # empty directories cannot exist in object storage: reported, not silently dropped
    assert any("empty-dir" in s[0] for s in rep["skipped"]["samples"])
    back = tmp_path / "back"
    proc = subprocess.run([rclone_binary(), "--config", conf, "copy", "--links", "--metadata",
                           dest, str(back)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    os.unlink(os.fsencode(str(src / "hostile")) + b"/back\\slash")
    os.unlink(str(src / "hostile" / "quote\u201bmark"))
    assert diff_trees(src, back, with_dirs=False) == []


def test_rclone_name_the_store_rewrites_is_reported(tmp_path, playbook, s3):
    """SeaweedFS stores "back\\slash" as "back/slash": the copy "succeeds" but the name is
    gone. The independent listing catches it and the run fails, naming the file."""
    src, shared = tmp_path / "src", tmp_path / "shared"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "ok.txt").write_text("fine")
    (src / "sub" / "back\\slash").write_text("rewritten by the store")
    shared.mkdir()
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    run = playbook(_vars(src, "dmtest:dmtest/%s" % tmp_path.name, shared, tool="rclone",
                         datamover_rclone_config=conf, datamover_retries=0,
                         datamover_run_id="rewrite"))
    assert run.rc != 0
    rep = run.report
    assert rep["status"] == "failed" and rep["partitions"]["failed"] == 1
    assert "back\\\\slash" in run.stdout and "missing at destination" in run.stdout
    assert rep["failed_partitions"][0]["logs"][0].endswith("000001.1.log")


def test_stop_then_resume_moves_only_what_is_left(tmp_path, playbook):
    import threading
    import time
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=600, big_files=0)
    run_dir = shared / "resume"
    common = dict(datamover_partition_files=30, datamover_run_id="resume", datamover_slots=1)
    out = {}
    t = threading.Thread(target=lambda: out.update(first=playbook(
        _vars(src, dst, shared, datamover_tool_options=["--bwlimit=300"], **common),
        name="first")))
    t.start()
    done_dir = run_dir / "state" / "done"
    deadline = time.time() + 180
    while time.time() < deadline and not (done_dir.is_dir() and len(os.listdir(done_dir)) >= 3):
        time.sleep(0.2)
    (run_dir / "STOP").write_text("stop")
    t.join(300)
    first = out["first"]
    assert first.rc != 0 and first.report["status"] == "failed", first.stdout[-3000:]
    assert "datamover_run_id=resume" in first.stdout  # the failure says how to resume
    done_first = set(os.listdir(done_dir))
    total = first.report["partitions"]["total"]
    assert 3 <= len(done_first) < total
    stamps = {p: os.stat(run_dir / "results" / (p + ".json")).st_mtime_ns for p in done_first}

    second = playbook(_vars(src, dst, shared, **common), name="second")
    assert second.rc == 0, second.stdout[-3000:]
    assert second.report["status"] == "succeeded"
    assert diff_trees(src, dst) == []
    for part in done_first:  # finished partitions were not moved again
        assert os.stat(run_dir / "results" / (part + ".json")).st_mtime_ns == stamps[part]
        assert sorted(os.listdir(run_dir / "logs")).count(part + ".2.log") == 0
    moved_now = sum(r["partitions"] for r in second.report["workers"].values())
    assert moved_now == total  # the report counts both executions
    # the resumed run dropped the --bwlimit of the first: options may change on resume
    assert "--bwlimit=300" not in (run_dir / "run.json").read_text().split('"tool_options"')[1][:40]


def test_preflight_reports_what_to_fix(tmp_path, playbook):
    shared = tmp_path / "shared"
    run = playbook(_vars(tmp_path / "missing", tmp_path / "dst", shared,
                         datamover_slots=2), name="r-missing")
    assert run.rc != 0
    assert "does not exist on this host: is the file system mounted?" in run.stdout
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    run = playbook(_vars(src, "nosuchremote:bucket", shared, tool="rclone"), name="r-remote")
    assert run.rc != 0 and "rclone remote 'nosuchremote' is not configured" in run.stdout
    run = playbook(_vars(src, tmp_path / "dst", shared, datamover_run_id="taken"), name="r-ok")
    assert run.rc == 0, run.stdout[-3000:]
    run = playbook(_vars(src, tmp_path / "elsewhere", shared, datamover_run_id="taken"),
                   name="r-taken")
    assert run.rc != 0 and "belongs to a run with destination=" in run.stdout
    run = playbook(_vars(src, tmp_path / "dst2", shared, datamover_partition_files=0),
                   name="r-limits")
    assert run.rc != 0 and "datamover_partition_files must be at least 1" in run.stdout
    # nothing was written at the destinations of the refused runs
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "dst2").exists()


def test_fpart_engine_through_the_playbook(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=400, big_files=0)
    hostile_tree(str(src / "hostile"))
    run = playbook(_vars(src, dst, shared, datamover_partition_engine="fpart",
                         datamover_partition_files=50, datamover_run_id="fpart"))
    assert run.rc == 0, run.stdout[-4000:]
    assert run.report["planned"]["engine"] == "fpart"
    assert run.report["partitions"]["total"] >= 8
    assert diff_trees(src, dst) == []

"""datamover.fleet.run_report at the Ansible boundary: report.json and report.md of real runs."""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.modules import run_report, worker

from tests.unit.helpers import write_script
from tests.unit.plugins.modules.conftest import src_totals
from tests.unit.plugins.modules.utils import module_fails, module_ok

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")


def _move(tmp_path, shared, src, run_id, **kw):
    args = dict(shared_dir=shared, run_id=run_id, host="h1", poll=0.05, backoff=0.01,
                plan=dict(source=src, destination=str(tmp_path / "dst"), tool="rsync",
                          partition_files=4, threads=2))
    args.update(kw)
    return module_ok(worker, args)


def test_writes_the_report_of_a_finished_run(tmp_path, shared, src):
    moved = _move(tmp_path, shared, src, "r1")
    started = time.time() - 100  # the report measures from here to the last partition
    result = module_ok(run_report, dict(shared_dir=shared, run_id="r1", started=started))
    assert result["changed"] is True
    assert (result["report_json"], result["report_md"]) == RunDir(shared, "r1").report_paths()
    with open(result["report_json"]) as handle:
        assert json.load(handle) == result["report"]
    report = result["report"]
    files, nbytes = src_totals()
    parts = moved["plan"]["parts"]
    assert report["status"] == "succeeded" and report["tool"] == "rsync"
    assert (report["files"], report["bytes"]) == (files, nbytes)
    assert report["partitions"] == {"total": parts, "done": parts, "failed": 0, "todo": 0,
                                    "claimed": 0}
    assert report["verified"] == {"files": files, "bytes": nbytes, "mismatches": 0}
    assert report["failed_partitions"] == [] and 90 < report["seconds"] <= 100
    assert report["workers"]["h1"]["files"] == files
    assert result["summary"][0] == "run r1: SUCCEEDED"
    with open(result["report_md"], encoding="utf-8") as handle:
        assert "r1" in handle.read()


def test_a_failed_run_is_reported_not_failed(tmp_path, shared, src):
    fake = write_script(str(tmp_path / "rsync"),
                        'case "$1" in --version) echo "rsync  version 3.2.7";; *) exit 23;; esac')
    moved = _move(tmp_path, shared, src, "r2", tool_path=fake, retries=0)
    result = module_ok(run_report, dict(shared_dir=shared, run_id="r2"))
    report = result["report"]
    assert report["status"] == "failed" and result["summary"][0] == "run r2: FAILED"
    assert len(report["failed_partitions"]) == moved["plan"]["parts"]
    first = report["failed_partitions"][0]
    assert first["attempts"] == 1 and first["logs"] and os.path.exists(first["logs"][0])


def test_missing_run_fails_with_a_sentence(shared):
    result = module_fails(run_report, dict(shared_dir=shared, run_id="nothing-here"))
    assert "is not a datamover run directory" in result["msg"]
    assert "exception" not in result


def test_unwritable_report_becomes_one_line_failure(tmp_path, shared, src):
    _move(tmp_path, shared, src, "r3")
    path_json, _ = RunDir(shared, "r3").report_paths()
    os.makedirs(os.path.join(path_json, "in-the-way"))
    result = module_fails(run_report, dict(shared_dir=shared, run_id="r3"))
    assert result["msg"].startswith("I/O error") and "exception" not in result

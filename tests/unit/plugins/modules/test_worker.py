"""datamover.fleet.worker at the Ansible boundary, moving a small tree with the real rsync."""
from __future__ import annotations

import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    RunDir,
    read_canary,
    write_canary,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.modules import worker

from tests.unit.helpers import tree_index, worker_record, write_script
from tests.unit.plugins.modules.conftest import src_totals
from tests.unit.plugins.modules.utils import module_fails, module_ok

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

FAST = dict(slots=2, retries=1, backoff=0.01, backoff_max=0.05, poll=0.05, lease_seconds=30,
            run_wait=5)


def _args(shared, run_id="w1", plan=None, **kw):
    args = dict(FAST, shared_dir=shared, run_id=run_id, host="h1")
    if plan is not None:
        args["plan"] = dict(dict(tool="rsync", partition_files=4, threads=2), **plan)
    args.update(kw)
    return args


def test_with_plan_moves_the_tree_and_returns_totals(tmp_path, shared, src):
    dst = str(tmp_path / "dst")
    result = module_ok(worker, _args(shared, plan=dict(source=src, destination=dst)))
    files, nbytes = src_totals()
    assert result["changed"] is True and result["host"] == "h1"
    assert result["created"] is True and result["stopped"] is False
    assert result["plan"]["files"] == files and result["plan"]["bytes"] == nbytes
    parts = result["plan"]["parts"]
    assert parts >= 4
    assert result["parts_done"] == parts and result["parts_failed"] == 0
    assert result["files"] == files and result["bytes"] == nbytes
    assert result["counts"] == {"todo": 0, "claimed": 0, "done": parts, "failed": 0}
    assert tree_index(dst) == tree_index(src)
    assert worker_record(RunDir(shared, "w1"), "h1")["status"] == "exited"


def test_without_plan_on_a_settled_run_changes_nothing(tmp_path, shared, src):
    first = module_ok(worker, _args(shared, plan=dict(source=src,
                                                      destination=str(tmp_path / "dst"))))
    again = module_ok(worker, _args(shared, host="h2"))
    assert again["changed"] is False and again["parts_done"] == 0 and again["host"] == "h2"
    assert again["counts"]["done"] == first["plan"]["parts"]
    assert "plan" not in again


def test_planning_worker_removes_the_preflight_canary(tmp_path, shared, src):
    os.makedirs(shared)
    nonce = write_canary(shared)
    module_ok(worker, _args(shared, canary=nonce,
                            plan=dict(source=src, destination=str(tmp_path / "dst"))))
    assert read_canary(shared, nonce) is None


def test_failed_crawl_fails_with_the_reason(tmp_path, shared):
    result = module_fails(worker, _args(shared, plan=dict(source=str(tmp_path / "nope"),
                                                          destination=str(tmp_path / "dst"))))
    assert "the source %s cannot be read (No such file or directory)" % (tmp_path / "nope") \
        in result["msg"]
    assert not RunDir(shared, "w1").exists()


def test_no_run_within_run_wait_fails_with_a_sentence(shared):
    os.makedirs(shared)
    result = module_fails(worker, _args(shared, run_wait=0.2))
    assert "is not a datamover run directory" in result["msg"]
    assert os.path.join(shared, "w1") in result["msg"]
    assert not RunDir(shared, "w1").exists()


def test_missing_tool_path_fails_naming_it(tmp_path, shared, src):
    missing = str(tmp_path / "no-rsync")
    result = module_fails(worker, _args(shared, tool_path=missing,
                                        plan=dict(source=src, destination=str(tmp_path / "dst"))))
    assert missing in result["msg"] and "datamover_tool_path" in result["msg"]


def test_failing_transfers_fail_partitions_not_the_module(tmp_path, shared, src):
    fake = write_script(str(tmp_path / "rsync"),
                        'case "$1" in --version) echo "rsync  version 3.2.7";; *) exit 23;; esac')
    result = module_ok(worker, _args(shared, tool_path=fake, retries=0,
                                     plan=dict(source=src, destination=str(tmp_path / "dst"))))
    assert result["parts_done"] == 0 and result["changed"] is False
    assert result["parts_failed"] == result["plan"]["parts"]
    assert RunState(RunDir(shared, "w1")).counts()["failed"] == result["plan"]["parts"]


def test_bad_run_id_fails(shared):
    assert "is not usable" in module_fails(worker, _args(shared, run_id="a b"))["msg"]


def test_os_error_becomes_one_line_failure(tmp_path, src):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = module_fails(worker, _args(str(blocker), plan=dict(source=src,
                                                                destination=str(tmp_path / "d"))))
    assert result["msg"].startswith("I/O error") and str(blocker) in result["msg"]

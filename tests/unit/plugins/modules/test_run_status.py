"""datamover.fleet.run_status at the Ansible boundary: structured state, never error text."""
from __future__ import annotations

import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.modules import run_status, worker

from tests.unit.helpers import new_run
from tests.unit.plugins.modules.conftest import src_totals
from tests.unit.plugins.modules.utils import module_fails, module_ok


def test_missing_run_is_not_an_error(shared):
    result = module_ok(run_status, dict(shared_dir=shared, run_id="nope"))
    assert result["changed"] is False and result["exists"] is False
    assert result["run_id"] == "nope" and result["run_dir"] == os.path.join(shared, "nope")
    assert "parts" not in result and "complete" not in result


def test_planned_run_reports_real_counts(tmp_path, shared, src):
    rundir, planned = new_run(shared, "s1", src, str(tmp_path / "dst"), partition_files=4)
    parts = planned["plan"]["parts"]
    result = module_ok(run_status, dict(shared_dir=shared, run_id="s1", _ansible_check_mode=True))
    files, nbytes = src_totals()
    assert result["exists"] is True and result["changed"] is False
    assert result["parts"] == {"todo": parts, "claimed": 0, "done": 0, "failed": 0,
                               "total": parts}
    assert result["plan_complete"] is True and result["complete"] is False
    assert result["plan_failed"] is None and result["stop_requested"] is False
    assert (result["files_total"], result["bytes_total"]) == (files, nbytes)
    assert (result["files_done"], result["bytes_done"], result["workers"]) == (0, 0, [])


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_finished_run_is_complete_with_the_workers_totals(tmp_path, shared, src):
    moved = module_ok(worker, dict(shared_dir=shared, run_id="s2", host="h1", poll=0.05,
                                   plan=dict(source=src, destination=str(tmp_path / "dst"),
                                             tool="rsync", partition_files=4, threads=2)))
    result = module_ok(run_status, dict(shared_dir=shared, run_id="s2"))
    parts = moved["plan"]["parts"]
    assert result["complete"] is True
    assert result["parts"] == {"todo": 0, "claimed": 0, "done": parts, "failed": 0,
                               "total": parts}
    assert (result["files_done"], result["bytes_done"]) == src_totals()
    [rec] = result["workers"]
    assert rec["host"] == "h1" and rec["status"] == "exited" and rec["alive"] is False
    assert result["workers_alive"] == 0


def test_bad_run_id_fails(shared):
    assert "is not usable" in module_fails(run_status, dict(shared_dir=shared,
                                                            run_id="-x"))["msg"]


def test_unreadable_run_becomes_one_line_failure(tmp_path, shared, src):
    rundir, _ = new_run(shared, "s3", src, str(tmp_path / "dst"))
    # a state directory replaced by a file: listing it is an OSError
    todo = rundir.state_dir("todo")
    shutil.rmtree(todo)
    with open(todo, "w") as handle:
        handle.write("x")
    result = module_fails(run_status, dict(shared_dir=shared, run_id="s3"))
    assert result["msg"].startswith("I/O error (%s)" % todo)
    assert "exception" not in result

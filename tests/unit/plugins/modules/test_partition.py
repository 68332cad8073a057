"""datamover.fleet.partition at the Ansible boundary: arguments in, exit_json/fail_json out."""
from __future__ import annotations

import os

from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.modules import partition

from tests.unit.plugins.modules.conftest import src_totals
from tests.unit.plugins.modules.utils import module_fails, module_ok


def _args(shared, src, dst, run_id="p1", **plan):
    plan = dict(dict(source=src, destination=dst, tool="rsync", partition_files=4,
                     threads=2), **plan)
    return dict(shared_dir=shared, run_id=run_id, plan=plan)


def test_plans_a_real_tree(tmp_path, shared, src):
    result = module_ok(partition, _args(shared, src, str(tmp_path / "dst")))
    files, nbytes = src_totals()
    assert result["changed"] is True and result["created"] is True
    assert result["run_dir"] == os.path.join(shared, "p1")
    plan = result["plan"]
    assert plan["files"] == files and plan["bytes"] == nbytes
    assert plan["engine"] == "native" and plan["crawl_errors"] == 0
    # 14 files and 6 directories, at most 4 entries per partition
    assert plan["parts"] >= 4 and result["published"] == plan["parts"]
    assert result["requeued_failed"] == []
    rundir = RunDir(shared, "p1")
    assert rundir.exists() and rundir.plan_complete()
    assert RunState(rundir).counts() == {"todo": plan["parts"], "claimed": 0, "done": 0,
                                         "failed": 0}
    # the nested plan's defaults were applied and recorded
    meta = rundir.load()
    assert (meta["tool"], meta["verify"], meta["symlinks"]) == ("rsync", "size", "links")
    # the module alone does not know the fleet: 8 slots assumed (partitioner.ByteCap)
    assert meta["partitioning"] == {"engine": "native", "files": 4, "bytes": 10 * 1024 ** 3,
                                    "fleet_slots": 8}


def test_second_call_resumes_without_crawling_again(tmp_path, shared, src):
    first = module_ok(partition, _args(shared, src, str(tmp_path / "dst")))
    again = module_ok(partition, _args(shared, src, str(tmp_path / "dst")))
    assert again["created"] is False and again["changed"] is False
    assert again["published"] == 0 and again["plan"] == first["plan"]


def test_bad_run_id_fails_with_the_rule(tmp_path, shared, src):
    result = module_fails(partition, _args(shared, src, str(tmp_path / "dst"), run_id="../up"))
    assert "run id '../up' is not usable" in result["msg"]
    assert not os.path.exists(shared)


def test_missing_plan_fails(shared):
    result = module_fails(partition, dict(shared_dir=shared, run_id="p1"))
    assert "missing required arguments: plan" in result["msg"]


def test_plan_options_are_validated_by_the_nested_spec(tmp_path, shared, src):
    args = _args(shared, src, str(tmp_path / "dst"))
    del args["plan"]["tool"]
    assert "tool" in module_fails(partition, args)["msg"]
    args = _args(shared, src, str(tmp_path / "dst"), verify="yes")
    msg = module_fails(partition, args)["msg"]
    assert "verify" in msg and "size" in msg and "checksum" in msg
    args = _args(shared, src, str(tmp_path / "dst"), bogus=1)
    assert "bogus" in module_fails(partition, args)["msg"]
    assert not os.path.exists(shared)


def test_run_id_of_another_migration_is_refused(tmp_path, shared, src):
    module_ok(partition, _args(shared, src, str(tmp_path / "dst")))
    other = tmp_path / "other-src"
    other.mkdir()
    result = module_fails(partition, _args(shared, str(other), str(tmp_path / "dst")))
    assert "datamover_run_id 'p1' belongs to a run with source=" in result["msg"]


def test_missing_source_fails_with_a_sentence(tmp_path, shared):
    result = module_fails(partition, _args(shared, str(tmp_path / "nope"), str(tmp_path / "dst")))
    # refused before the run directory exists (issue 25): nothing left behind
    assert "the source %s cannot be read (No such file or directory): was it unmounted or " \
        "renamed?" % (tmp_path / "nope") in result["msg"]
    assert not RunDir(shared, "p1").exists()


def test_os_error_becomes_one_line_failure(tmp_path, src):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = module_fails(partition, _args(str(blocker), src, str(tmp_path / "dst")))
    assert result["msg"].startswith("I/O error")
    assert str(blocker) in result["msg"]
    assert "exception" not in result  # not an internal error: no traceback to show

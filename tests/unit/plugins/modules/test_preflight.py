"""datamover.fleet.preflight at the Ansible boundary: prepare, check (with the one-host
rendezvous) and cleanup, on real directories with the real rsync."""
from __future__ import annotations

import os
import shutil
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir, read_canary
from ansible_collections.datamover.fleet.plugins.modules import preflight

from tests.unit.helpers import new_run
from tests.unit.plugins.modules.utils import module_fails, module_ok, run_module

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")


def _args(shared, src, dst, stage="check", run_id="pf1", **kw):
    args = dict(stage=stage, shared_dir=shared, run_id=run_id, source=src, destination=dst,
                tool="rsync")
    if stage == "check" and "hosts" not in kw and "nonce" not in kw:
        kw.update(hosts=["h1"], host="h1", nonce="n0nce")
    args.update(kw)
    return args


# --- prepare --------------------------------------------------------------------------------
def test_prepare_writes_a_canary_and_says_the_run_is_new(tmp_path, shared, src):
    before = time.time()
    result = module_ok(preflight, _args(shared, src, str(tmp_path / "dst"), stage="prepare"))
    assert result["changed"] is True and result["problems"] == []
    assert result["resume"] is False and result["run_id"] == "pf1"
    assert before <= result["started"] <= time.time()
    assert read_canary(shared, result["nonce"]) == result["nonce"]
    assert not RunDir(shared, "pf1").exists()  # preflight does not create the run


def test_prepare_resumes_a_run_of_the_same_migration(tmp_path, shared, src):
    new_run(shared, "pf1", src, str(tmp_path / "dst"))
    result = module_ok(preflight, _args(shared, src, str(tmp_path / "dst"), stage="prepare"))
    assert result["resume"] is True


def test_prepare_refuses_a_run_id_of_another_migration(tmp_path, shared, src):
    new_run(shared, "pf1", src, str(tmp_path / "dst"))
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "elsewhere"),
                                           stage="prepare"))
    assert "datamover_run_id 'pf1' belongs to a run with destination=" in result["msg"]
    assert result["problems"] == [result["msg"]]
    assert [n for n in os.listdir(shared) if n != "pf1"] == []  # no canary for a refused run


def test_prepare_refuses_a_bad_run_id(tmp_path, shared, src):
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "dst"), stage="prepare",
                                           run_id="no/slash"))
    assert "run id 'no/slash' is not usable" in result["msg"]


# --- check ----------------------------------------------------------------------------------
def test_check_with_a_one_host_rendezvous_succeeds(tmp_path, shared, src):
    dst = str(tmp_path / "dst")
    result = module_ok(preflight, _args(shared, src, dst))
    assert result["changed"] is False and result["problems"] == []
    assert result["tool_binary"] == RSYNC
    assert (result["nonce"], result["run_id"]) == ("n0nce", "pf1")
    assert not os.path.exists(dst)  # the destination probe leaves nothing behind
    assert not RunDir(shared, "pf1").exists()


def test_check_against_the_canary_of_prepare(tmp_path, shared, src):
    dst = str(tmp_path / "dst")
    nonce = module_ok(preflight, _args(shared, src, dst, stage="prepare"))["nonce"]
    assert module_ok(preflight, _args(shared, src, dst, nonce=nonce))["problems"] == []
    result = module_fails(preflight, _args(shared, src, dst, nonce="other"))
    assert "is not the same directory as on the first worker" in result["msg"]


def test_check_reports_every_problem_of_the_host_together(tmp_path, shared):
    missing = str(tmp_path / "no-rsync")
    result = module_fails(preflight, _args(shared, "relative/src", str(tmp_path / "dst"),
                                           tool_path=missing, slots=0))
    problems = result["problems"]
    assert "datamover_slots must be a positive integer (got 0)" in problems
    assert "datamover_source must be an absolute path (got 'relative/src')" in problems
    assert any(missing in p and "datamover_tool_path" in p for p in problems)
    assert len(problems) == 3
    assert result["msg"] == "preflight failed on this host: " + " | ".join(problems)


def test_check_refuses_a_run_id_of_another_migration(tmp_path, shared, src):
    other = tmp_path / "other-src"
    other.mkdir()
    new_run(shared, "pf1", str(other), str(tmp_path / "dst"))
    dst = str(tmp_path / "dst2")
    result = module_fails(preflight, _args(shared, src, dst))
    assert [p for p in result["problems"] if "belongs to a run with source=" in p]
    assert not os.path.exists(dst)  # a refused run writes nothing, not even a probe


def test_check_waits_for_the_other_hosts_and_names_the_missing_one(tmp_path, shared, src):
    args = _args(shared, src, str(tmp_path / "dst"), hosts=["h1", "h2"], host="h1",
                 nonce="n0nce", rendezvous_timeout=0.3)
    result = module_fails(preflight, args)
    assert "is not the same directory as on h2" in result["msg"]


def test_check_with_hosts_needs_a_nonce(tmp_path, shared, src):
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "dst"), hosts=["h1"],
                                           host="h1"))
    assert "hosts needs a nonce" in result["msg"]


def test_check_needs_source_destination_and_tool(shared):
    result = module_fails(preflight, dict(shared_dir=shared, run_id="pf1", stage="check"))
    assert "stage is check but all of the following are missing" in result["msg"]
    assert "source" in result["msg"] and "tool" in result["msg"]


def test_check_refuses_a_destination_without_parent(tmp_path, shared, src):
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "a" / "b")))
    assert "create the parent directory first" in result["msg"]


# --- cleanup --------------------------------------------------------------------------------
def test_cleanup_removes_the_canaries(tmp_path, shared, src):
    prepared = module_ok(preflight, _args(shared, src, str(tmp_path / "dst"), stage="prepare"))
    nonce = prepared["nonce"]
    module_ok(preflight, _args(shared, src, str(tmp_path / "dst"), nonce=nonce, hosts=["h1"],
                               host="h1"))
    check = dict(stage="cleanup", shared_dir=shared, run_id="pf1", nonce=nonce,
                 _ansible_check_mode=True)
    assert module_ok(preflight, check)["changed"] is False
    assert read_canary(shared, nonce) == nonce
    cleanup = dict(check, _ansible_check_mode=False)
    assert module_ok(preflight, cleanup) == {"changed": True, "problems": []}
    assert os.listdir(shared) == []  # the prepare canary and the host's
    assert module_ok(preflight, cleanup)["changed"] is False


# --- errors inside become failures, not tracebacks ------------------------------------------
def test_tool_that_cannot_be_executed_is_a_problem_not_a_traceback(tmp_path, shared, src):
    bogus = tmp_path / "rsync"
    bogus.write_bytes(b"\x7fELF not really")
    bogus.chmod(0o755)
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "dst"),
                                           tool_path=str(bogus)))
    assert str(bogus) in result["msg"]


def test_unreadable_run_is_a_failure_not_a_traceback(tmp_path, shared, src):
    rundir = RunDir(shared, "pf1")
    rundir.create_or_check({"source": src, "destination": str(tmp_path / "dst"), "tool": "rsync"})
    # the run's one file (its identity record) replaced by a directory: exists(), unreadable
    [meta] = [n for n in os.listdir(rundir.path) if os.path.isfile(rundir.p(n))]
    os.unlink(rundir.p(meta))
    os.mkdir(rundir.p(meta))
    assert rundir.exists()
    result = module_fails(preflight, _args(shared, src, str(tmp_path / "dst"), stage="prepare"))
    assert rundir.path in result["msg"]


# --- refusals: hostile options, overlapping paths, tunables; nothing written ----------------
@pytest.mark.parametrize("extra, says", [
    (dict(tool_options=["-avn"]), "rsync -n (--dry-run) in '-avn' is refused"),
    (dict(tool_options=["--remove-source-files"]), "--remove-source-files is refused"),
    (dict(tunables={"timeout": 0}), "datamover_timeout must be at least 1"),
    (dict(tunables={"lease_seconds": 0}), "datamover_lease_seconds must be at least 2"),
])
def test_check_refuses_and_writes_nothing(tmp_path, shared, src, extra, says):
    dst = str(tmp_path / "dst")
    for stage in ("check", "prepare"):
        result = module_fails(preflight, _args(shared, src, dst, stage=stage, **extra))
        assert says in result["msg"]
    assert not os.path.exists(shared) and not os.path.exists(dst)


def test_check_refuses_a_destination_inside_the_source(tmp_path, shared, src):
    dst = os.path.join(src, "backup")
    result = module_fails(preflight, _args(shared, src, dst))
    assert "is inside the source" in result["msg"]
    assert not os.path.exists(shared) and not os.path.exists(dst)

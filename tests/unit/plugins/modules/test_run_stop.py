"""datamover.fleet.run_stop at the Ansible boundary: the STOP request through the run directory,
idempotent, check mode, and a clear refusal for a run that does not exist."""
from __future__ import annotations

import os

from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.modules import run_status, run_stop

from tests.unit.helpers import new_run
from tests.unit.plugins.modules.utils import module_fails, module_ok


def test_stop_is_requested_once_and_check_mode_writes_nothing(tmp_path, shared, src):
    new_run(shared, "st1", src, str(tmp_path / "dst"), partition_files=4)
    rundir = RunDir(shared, "st1")
    checked = module_ok(run_stop, dict(shared_dir=shared, run_id="st1", _ansible_check_mode=True))
    assert checked["changed"] is True and not rundir.stop_requested()
    first = module_ok(run_stop, dict(shared_dir=shared, run_id="st1", reason="window closed"))
    assert first["changed"] is True and rundir.stop_requested()
    assert first["run_dir"] == rundir.path
    again = module_ok(run_stop, dict(shared_dir=shared, run_id="st1"))
    assert again["changed"] is False
    assert module_ok(run_status, dict(shared_dir=shared, run_id="st1"))["stop_requested"] is True


def test_an_unknown_run_is_refused_naming_the_directory(shared):
    msg = module_fails(run_stop, dict(shared_dir=shared, run_id="nope"))["msg"]
    assert os.path.join(shared, "nope") in msg and "no run.json" in msg
    assert not os.path.exists(os.path.join(shared, "nope"))


def test_run_status_returns_the_run_for_a_resume(tmp_path, shared, src):
    new_run(shared, "st2", src, str(tmp_path / "dst"), partition_files=4)
    result = module_ok(run_status, dict(shared_dir=shared, run_id="st2"))
    assert result["run"]["source"].rstrip("/") == src.rstrip("/")
    assert result["tool"] == result["run"]["tool"] == "rsync"

"""detach: the worker loop as a detached process (what the migrate role dispatches), with the
real rsync: it plans and moves a run, crashes with a record and a log, stops at its deadline."""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
import zipfile

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.work import detach
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import open_run
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import DEFAULTS
from tests.unit.helpers import new_run, plan_params, tree_index, worker_record, write, write_script

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")


def _params(shared, run_id, host="w1", plan=None, **kw):
    p = dict(DEFAULTS, shared_dir=str(shared), run_id=run_id, host=host, plan=plan,
             tool_path=None, rclone_config=None, canary=None, detach=True, timeout=0)
    p.update(backoff=0.01, backoff_max=0.05, poll=0.05, run_wait=5)
    p.update(kw)
    return p


def _wait_gone(pid, timeout=60):
    deadline = time.time() + timeout
    while detach.pid_alive(pid):
        try:  # reap it: the test process is its parent (the module's process exits instead)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        assert time.time() < deadline, "detached worker %d still running" % pid
        time.sleep(0.05)


def _private_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "datamover-worker-*")))


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for d in range(3):
        for i in range(5):
            write(str(root / ("d%d" % d) / ("f%d" % i)), b"x" * (d * 100 + i))
    return str(root)


def test_detached_planning_worker_moves_the_run_and_leaves_nothing_behind(tmp_path, src):
    dst = tmp_path / "dst"
    rundir = RunDir(str(tmp_path / "shared"), "run")
    plan = plan_params(src, str(dst), partition_files=4)
    before = _private_dirs()
    params = _params(tmp_path / "shared", "run", plan=plan)
    params["opened"] = open_run(rundir, plan)
    pid, private = detach.spawn(params)
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        argv = handle.read()
    assert src.encode() not in argv  # parameters travel on stdin, not in ps
    _wait_gone(pid)
    assert RunState(rundir).counts() == {"todo": 0, "claimed": 0, "done": 4, "failed": 0}
    assert tree_index(dst) == tree_index(src)
    assert worker_record(rundir, "w1")["status"] == "exited"
    assert not os.path.exists(private)
    assert _private_dirs() == before
    assert not os.path.exists(rundir.worker_log_path("w1"))  # nothing to say


def test_worker_that_cannot_run_leaves_a_crashed_record_and_its_log(tmp_path, src):
    rundir, _ = new_run(tmp_path / "shared", "run", src, str(tmp_path / "dst"), partition_files=4)
    pid, private = detach.spawn(_params(tmp_path / "shared", "run",
                                        tool_path=str(tmp_path / "no-such-rsync")))
    _wait_gone(pid)
    record = worker_record(rundir, "w1")
    assert record["status"] == "crashed"
    assert "no-such-rsync" in record["error"]
    with open(rundir.worker_log_path("w1"), "rb") as handle:
        assert b"Traceback" in handle.read()
    assert RunState(rundir).ids("claimed") == []
    assert not os.path.exists(private)


def test_worker_stops_itself_at_its_deadline_and_gives_work_back(tmp_path, src):
    rundir, _ = new_run(tmp_path / "shared", "run", src, str(tmp_path / "dst"), partition_files=4)
    slow = write_script(str(tmp_path / "slow-rsync"),
                        'case "$1" in --version) exec %s --version;; esac; sleep 30' % RSYNC)
    started = time.time()
    pid, _private = detach.spawn(_params(tmp_path / "shared", "run", tool_path=slow, slots=1,
                                         timeout=1.0))
    _wait_gone(pid, timeout=20)
    assert time.time() - started < 15
    counts = RunState(rundir).counts()
    assert counts["done"] == 0 and counts["claimed"] == 0 and counts["todo"] == 4


def test_code_root_is_the_payload_zip_or_the_collections_dir(tmp_path):
    inside = os.path.join(str(tmp_path), "payload.zip", "ansible_collections", "datamover",
                          "fleet", "plugins", "module_utils", "detach.py")
    assert detach.code_root(inside) == os.path.join(str(tmp_path), "payload.zip")
    here = detach.code_root()
    assert os.path.isdir(os.path.join(here, "ansible_collections", "datamover", "fleet"))
    with pytest.raises(RuntimeError, match="ansible_collections"):
        detach.code_root("/usr/lib/python3/dist-packages/foo.py")


def test_spawn_runs_from_a_copy_of_a_zip_payload(tmp_path, src, monkeypatch):
    """As under Ansible: the code is a zip that is deleted once the module returns."""
    payload = str(tmp_path / "ansible_worker_payload.zip")
    root = detach.code_root()
    utils = os.path.join(root, "ansible_collections", "datamover", "fleet", "plugins",
                         "module_utils")
    with zipfile.ZipFile(payload, "w") as zf:
        for pkg in ("", "/datamover", "/datamover/fleet", "/datamover/fleet/plugins"):
            zf.writestr("ansible_collections%s/__init__.py" % pkg, "")
        for dirpath, _dirs, files in os.walk(utils):
            for name in files:
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    zf.write(full, os.path.relpath(full, root))
    monkeypatch.setattr(detach, "code_root", lambda: payload)
    rundir, _ = new_run(tmp_path / "shared", "run", src, str(tmp_path / "dst"), partition_files=4)
    pid, private = detach.spawn(_params(tmp_path / "shared", "run"))
    os.unlink(payload)  # Ansible removes its temp dir when the module exits
    _wait_gone(pid)
    assert RunState(rundir).counts()["done"] == 4
    assert not os.path.exists(private)


def test_worker_module_detaches_and_returns_the_pid(tmp_path, src):
    from ansible_collections.datamover.fleet.plugins.modules import worker
    from tests.unit.plugins.modules.utils import module_ok
    shared, dst = str(tmp_path / "shared"), str(tmp_path / "dst")
    started = time.time()
    result = module_ok(worker, dict(shared_dir=shared, run_id="ckpt", host="h1", poll=0.05,
                                    detach=True, timeout=600,
                                    plan=dict(source=src, destination=dst, tool="rsync",
                                              partition_files=4, threads=2)))
    assert result["created"] is True and result["changed"] is True
    assert RunDir(shared, "ckpt").exists()  # created before the task returned
    _wait_gone(result["pid"])
    assert tree_index(dst) == tree_index(src)
    assert worker_record(RunDir(shared, "ckpt"), "h1")["started"] >= started


def test_private_dirs_of_killed_workers_are_removed_by_the_next_spawn(tmp_path, src):
    """SIGKILL (a lost host) leaves a worker's private dir: the next dispatch removes it,
    and never one whose worker is alive or that has no pid yet."""
    import signal
    rundir, _ = new_run(tmp_path / "shared", "run", src, str(tmp_path / "dst"), partition_files=4)
    slow = write_script(str(tmp_path / "slow-rsync"),
                        'case "$1" in --version) exec %s --version;; esac; sleep 30' % RSYNC)
    pid, private = detach.spawn(_params(tmp_path / "shared", "run", tool_path=slow, slots=1))
    assert os.path.exists(os.path.join(private, "pid"))
    assert detach.remove_orphans() == 0 and os.path.isdir(private)  # alive
    os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert os.path.isdir(private)  # killed: could not clean up
    fresh = tempfile.mkdtemp(prefix="datamover-worker-")  # no pid yet: left alone
    assert detach.remove_orphans() >= 1
    assert not os.path.exists(private) and os.path.isdir(fresh)
    os.rmdir(fresh)

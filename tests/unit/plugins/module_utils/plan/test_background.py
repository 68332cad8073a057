"""plan/background: the plan as a detached, supervised process (the partition module's
``detach``, the Kubernetes executor's planner). The run is opened before it returns; whatever
ends the crawl early - an error, its deadline, SIGKILL - is in plan.failed with the planner's
message, and nothing of it stays in the temp dir."""
from __future__ import annotations

import glob
import os
import signal
import tempfile
import time

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError
from ansible_collections.datamover.fleet.plugins.module_utils.plan import background
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work import detach
from tests.unit.helpers import plan_params, write, write_script


@pytest.fixture(autouse=True)
def own_tmp(tmp_path, monkeypatch):
    """The private directories go to a temp dir of this test's own (others may run beside)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))


def _private_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "datamover-plan-*")))


def _wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while detach.pid_alive(pid):
        try:  # reap it: the test process is its parent (the module's process exits instead)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        assert time.time() < deadline, "detached planner %d still running" % pid
        time.sleep(0.05)


def _cmdline(pid):
    """The process's arguments, once its exec is done (they are empty for a moment)."""
    deadline = time.time() + 10
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read()
        if argv or time.time() > deadline:
            return argv
        time.sleep(0.01)


def _children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
        return [int(c) for c in handle.read().split()]


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for d in range(3):
        for i in range(4):
            write(str(root / ("d%d" % d) / ("f%d" % i)), b"x" * (d * 10 + i))
    return str(root)


@pytest.fixture
def slow_fpart(tmp_path, monkeypatch):
    """An fpart that never cuts a partition: the crawl goes on until the planner is stopped."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    write_script(str(bindir / "fpart"), "exec sleep 20")
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ["PATH"])


def test_the_run_is_opened_before_it_returns_then_crawled_detached(tmp_path, src):
    rundir = RunDir(str(tmp_path / "shared"), "r1")
    result = background.start(rundir, plan_params(src, str(tmp_path / "dst"), partition_files=4))
    assert result["created"] is True and result["run_dir"] == rundir.path
    assert rundir.exists()  # before the task returns: the pods can start at once
    _wait_gone(result["pid"])
    assert rundir.plan_complete() and rundir.plan()["parts"] == 3
    assert rundir.plan_failed() is None
    assert not os.path.exists(rundir.plan_log_path())  # nothing to say
    assert _private_dirs() == set()


def test_a_plan_the_run_cannot_take_fails_before_anything_starts(tmp_path):
    with pytest.raises(DatamoverError):
        background.start(RunDir(str(tmp_path / "shared"), "r2"),
                         plan_params(str(tmp_path / "no-such-source"), str(tmp_path / "dst")))
    assert _private_dirs() == set()


def test_a_failed_crawl_is_in_plan_failed_with_its_message_and_log(tmp_path, src):
    rundir = RunDir(str(tmp_path / "shared"), "r3")
    result = background.start(rundir, plan_params(src, str(tmp_path / "dst"), mirror=True))
    _wait_gone(result["pid"])
    assert "datamover_mirror needs datamover_since" in rundir.plan_failed()["error"]
    with open(rundir.plan_log_path(), "rb") as handle:
        assert b"Traceback" in handle.read()


def test_the_deadline_stops_the_crawl_and_says_so(tmp_path, src, slow_fpart):
    rundir = RunDir(str(tmp_path / "shared"), "r4")
    started = time.time()
    result = background.start(rundir, plan_params(src, str(tmp_path / "dst"), engine="fpart"),
                              timeout=1.0)
    argv = _cmdline(result["pid"])
    assert src.encode() not in argv and b"PlanProgram" in argv  # parameters on stdin only
    _wait_gone(result["pid"])
    assert time.time() - started < 15
    assert "stopped by SIGTERM" in rundir.plan_failed()["error"]
    assert not rundir.plan_complete()


def test_a_killed_planner_is_a_failed_plan(tmp_path, src, slow_fpart):
    """What async_wrapper reported for a module that died (kill -9, the OOM killer): the
    supervising session leader records it, the crawl cannot."""
    rundir = RunDir(str(tmp_path / "shared"), "r5")
    result = background.start(rundir, plan_params(src, str(tmp_path / "dst"), engine="fpart"))
    deadline = time.time() + 10
    while not _children(result["pid"]):
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(_children(result["pid"])[0], signal.SIGKILL)
    _wait_gone(result["pid"])
    error = rundir.plan_failed()["error"]
    assert "killed by signal %d" % signal.SIGKILL in error and rundir.plan_log_path() in error
    with open(rundir.plan_log_path()) as handle:
        assert "killed by signal" in handle.read()
    assert _private_dirs() == set()

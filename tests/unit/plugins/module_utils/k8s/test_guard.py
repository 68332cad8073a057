"""k8s.guard: the guard's heartbeat and release marker, how long it waits, the guard as a
detached process, and the play's end (release, wait for the guard, stop a planner)."""
from __future__ import annotations

import glob
import os
import subprocess
import tempfile
import threading
import time

from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import (
    Guard,
    GuardProgram,
    release,
    start_guard,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.background import start
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work import detach
from tests.unit.helpers import plan_params, write, write_script


def test_a_release_ends_the_wait_and_a_stale_heartbeat_too(tmp_path):
    guard = Guard(RunDir(str(tmp_path), "r1"))
    guard.release()  # an earlier execution's marker: forgotten when the guard is armed
    threading.Timer(0.3, guard.release).start()
    started = time.time()
    assert guard.wait(grace=30, startup=30, poll=0.05) == "released"
    assert 0.25 < time.time() - started < 10
    assert oct(os.stat(guard.alive).st_mode & 0o777) == "0o600"
    os.unlink(guard.done)
    assert guard.wait(grace=0.2, startup=0.2, poll=0.05) == "stale"


def test_heartbeats_keep_it_waiting(tmp_path):
    guard = Guard(RunDir(str(tmp_path), "r2"))
    stop = threading.Event()

    def beat():
        while not stop.wait(0.05):
            guard.beat()
    threading.Thread(target=beat, daemon=True).start()
    threading.Timer(1.0, guard.release).start()
    try:
        assert guard.wait(grace=0.3, startup=0.3, poll=0.05) == "released"
    finally:
        stop.set()


def test_a_gone_run_directory_is_a_stale_heartbeat(tmp_path):
    guard = Guard(RunDir(str(tmp_path), "r3"))
    guard.beat()
    os.unlink(guard.alive)
    assert guard.last_beat() == 0


# --- the detached guard, and the play's end ---------------------------------------------

def _guard_params(shared, run_id, **kw):
    p = dict(shared_dir=str(shared), run_id=run_id, namespace="ns", job_name="dm-job",
             secret_name="dm-job-rclone", grace=30.0, startup=30.0, poll=0.05,
             kubeconfig=None, context=None)
    p.update(kw)
    return p


def _private_dirs(name):
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "datamover-%s-*" % name)))


def _cmdline(pid):
    """The process's arguments, once its exec is done (they are empty for a moment)."""
    deadline = time.time() + 10
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read()
        if argv or time.time() > deadline:
            return argv
        time.sleep(0.01)


def _reap(pid):
    """The test process is the detached processes' parent: reap them, as init would."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while detach.pid_alive(pid):
        _reap(pid)
        assert time.time() < deadline, "detached process %d still running" % pid
        time.sleep(0.05)


def test_the_detached_guard_is_armed_before_it_returns_and_ends_once_released(tmp_path,
                                                                            monkeypatch):
    rundir = RunDir(str(tmp_path), "r4")
    guard = Guard(rundir)
    guard.release()  # an earlier execution's marker
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # others may run beside
    pid = start_guard(_guard_params(tmp_path, "r4"))
    assert len(_private_dirs("guard")) == 1
    assert not guard.released() and os.path.exists(guard.alive)  # armed: a release now counts
    argv = _cmdline(pid)
    assert b"dm-job" not in argv and b"GuardProgram" in argv  # parameters on stdin only
    threading.Thread(target=_wait_gone, args=(pid,), daemon=True).start()  # reaps it
    started = time.time()
    assert release(rundir, guard_pid=pid, wait=20) == {"guard": "ended"}
    assert time.time() - started < 10
    assert not os.path.exists(rundir.guard_log_path())  # released: nothing to say
    assert _private_dirs("guard") == set()


def test_a_guard_that_cannot_clean_up_says_why_in_its_log(tmp_path):
    rundir = RunDir(str(tmp_path), "r5")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("not: a kubeconfig\n")
    pid = start_guard(_guard_params(tmp_path, "r5", grace=0.2, startup=0.2,
                                    kubeconfig=str(kubeconfig)))
    _wait_gone(pid)
    with open(rundir.guard_log_path()) as handle:
        log = handle.read()
    assert "the play is gone and the guard could not clean up" in log, log


def test_the_play_end_stops_a_planner_still_crawling(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    write_script(str(bindir / "fpart"), "exec sleep 20")
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ["PATH"])
    src = tmp_path / "src"
    write(str(src / "a"), b"a")
    rundir = RunDir(str(tmp_path / "shared"), "r6")
    plan = start(rundir, plan_params(str(src), str(tmp_path / "dst"), engine="fpart"))
    threading.Thread(target=_wait_gone, args=(plan["pid"],), daemon=True).start()
    time.sleep(0.5)
    started = time.time()
    assert release(rundir, plan_pid=plan["pid"], wait=20) == {"plan": "stopped"}
    assert time.time() - started < 10
    assert "stopped by SIGTERM" in rundir.plan_failed()["error"]


def test_a_pid_that_is_no_longer_ours_is_never_signalled(tmp_path):
    """Days later, the guard's pid may be another process's: the play's end leaves it alone."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert not detach.running(other.pid, GuardProgram)
        assert release(RunDir(str(tmp_path), "r7"), guard_pid=other.pid,
                       plan_pid=other.pid, wait=0.1) == {"guard": "ended", "plan": "ended"}
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()

"""Fault 6: two controllers on one run id. The second migrate.yml is refused with the first's
host, pid and start time, and writes nothing; once the first is killed (SIGKILL: no cleanup
at all), the same command proceeds and finishes the run. Real ansible-playbook processes."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

from tests.conftest import COLLECTIONS, ROOT, VENV_BIN
from tests.integration.test_migrate_local import _vars
from tests.lab.trees import diff_trees, sample_tree


def _wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def _snapshot(shared, run_dir):
    """What a refused play could have written: the shared dir's entries (canaries), the run's
    own records of who works on it, and its identity."""
    return {"shared": sorted(os.listdir(shared)),
            "workers": sorted(os.listdir(run_dir / "workers")),
            "run.json": (run_dir / "run.json").read_bytes(),
            "lock": (run_dir / "controller.lock").read_bytes(),
            "logs": sorted(n for n in os.listdir(run_dir / "logs") if n.startswith("worker-"))}


def test_second_controller_refused_until_the_first_is_killed(tmp_path, playbook):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, nbytes = sample_tree(str(src), files=400, big_files=0)
    common = dict(datamover_run_id="twice", datamover_partition_files=10, datamover_slots=1)
    varfile = tmp_path / "first.json"
    varfile.write_text(json.dumps(_vars(src, dst, shared, datamover_tool_options=["--bwlimit=30"],
                                        **common)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    log = open(tmp_path / "first.log", "wb")
    first = subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), "-i",
                              os.path.join(ROOT, "inventories", "local"), "-e", "@%s" % varfile,
                              os.path.join(ROOT, "playbooks", "migrate.yml")],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    run_dir = shared / "twice"
    try:
        done = run_dir / "state" / "done"
        _wait(lambda: done.is_dir() and len(os.listdir(done)) >= 1, 120, "a partition done")
        lock = json.loads((run_dir / "controller.lock").read_text())
        assert lock["pid"] == first.pid and lock["host"] == socket.gethostname()
        before = _snapshot(shared, run_dir)

        # same run id, other options (no --bwlimit): had it got anywhere, run.json would say
        second = playbook(_vars(src, dst, shared, **common), name="second")
        assert first.poll() is None, "the first play ended before the second was refused"
        assert second.rc != 0
        assert ("run twice is being run by another controller: host %s, pid %d, started %s"
                % (lock["host"], lock["pid"], lock["started"])) in second.stdout
        assert _snapshot(shared, run_dir) == before  # nothing written, the lock untouched

        # kill -9 the first controller: its detached workers go on, its lock stays behind
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    assert (run_dir / "controller.lock").exists()
    third = playbook(_vars(src, dst, shared, **common), name="third")
    assert third.rc == 0, third.stdout[-4000:]
    assert "was taken over" in third.stdout  # said, with the gone controller's pid
    assert str(lock["pid"]) in third.stdout
    rep = third.report
    assert rep["status"] == "succeeded" and rep["files"] == files and rep["bytes"] == nbytes
    assert rep["verified"]["mismatches"] == 0
    assert diff_trees(src, dst) == []
    assert not (run_dir / "controller.lock").exists()  # released at the end of the play
    # nothing sent twice: the killed play's detached workers finished their own partitions
    attempts = [len(json.loads((run_dir / "results" / n).read_text())["attempts"])
                for n in os.listdir(run_dir / "results")]
    assert len(attempts) == rep["partitions"]["total"] and set(attempts) == {1}

"""k8s.guard: the guard's heartbeat and release marker, and how long it waits."""
from __future__ import annotations

import os
import threading
import time

from ansible_collections.datamover.fleet.plugins.module_utils.k8s.guard import Guard
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


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

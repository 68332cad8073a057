"""runlock: one controller per run - taken atomically, refused while held, broken only when the
holder is provably gone, released by its holder only."""
from __future__ import annotations

import os
import time

from ansible_collections.datamover.fleet.plugins.action.run_lock import (
    holder_alive,
    process_start,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run import runlock
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def _me(nonce, pid=4242):
    return {"nonce": nonce, "host": "ctl", "pid": pid, "started": "2026-11-26T00:00:00Z",
            "run_id": "r"}


def test_take_refuse_release(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    first = runlock.take(rundir, _me("a"), 120)
    assert first["taken"] and os.stat(rundir.path).st_mode & 0o777 == 0o700
    assert os.stat(rundir.controller_lock_path()).st_mode & 0o777 == 0o600
    listing = sorted(os.listdir(rundir.path))
    second = runlock.take(rundir, _me("b", 99), 120)
    assert not second["taken"] and second["holder"]["pid"] == 4242
    assert sorted(os.listdir(rundir.path)) == listing  # a refusal writes nothing
    assert "host ctl, pid 4242, started 2026-11-26T00:00:00Z" in runlock.describe(
        second["holder"], second["age"], 120, rundir.controller_lock_path())
    assert runlock.take(rundir, _me("a"), 120)["taken"]  # ours already: idempotent
    assert not runlock.release(rundir, "b") and os.path.exists(rundir.controller_lock_path())
    assert runlock.release(rundir, "a")
    assert not os.path.exists(rundir.path)  # the lock was all a new run had: nothing left


def test_a_holder_without_heartbeat_is_gone_and_a_proven_dead_one_is_broken(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    assert runlock.take(rundir, _me("a"), 120)["taken"]
    assert runlock.heartbeat(rundir, "a") and not runlock.heartbeat(rundir, "b")
    old = time.time() - 500
    os.utime(rundir.controller_lock_path(), (old, old))
    out = runlock.take(rundir, _me("b"), 120)
    assert out["taken"] and out["broken"]["nonce"] == "a"
    # fresh heartbeat: only a caller that proved the holder dead breaks it, by its nonce
    assert not runlock.take(rundir, _me("c"), 120, breaks="a")["taken"]
    assert runlock.take(rundir, _me("c"), 120, breaks="b")["taken"]
    assert runlock.stale_after(120, 10) == 240 and runlock.stale_after(1, 1) == 120


def test_holder_alive_sees_a_dead_or_reused_pid():
    me = os.getpid()
    assert holder_alive({"pid": me, "pid_started": process_start(me)})
    assert not holder_alive({"pid": me, "pid_started": "1"})  # same pid, another process
    assert not holder_alive({"pid": 2 ** 22 + 1})
    assert holder_alive({"pid": "?"})  # cannot tell: not provably gone


def test_state_beat_touches_only_the_holders_lock(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    params = dict(shared_dir=str(tmp_path / "shared"), run_id="r", nonce="a", state="beat",
                  lease_seconds=120.0, interval=10.0, run_dir_access="private")
    assert runlock.run_lock(params) == dict(changed=False, held=False)  # no lock: nothing made
    assert not os.path.exists(rundir.path)
    assert runlock.take(rundir, _me("a"), 120)["taken"]
    os.utime(rundir.controller_lock_path(), (time.time() - 300, time.time() - 300))
    assert runlock.run_lock(dict(params, nonce="b"))["held"] is False
    assert time.time() - os.stat(rundir.controller_lock_path()).st_mtime > 200
    assert runlock.run_lock(params)["held"] is True
    assert time.time() - os.stat(rundir.controller_lock_path()).st_mtime < 60

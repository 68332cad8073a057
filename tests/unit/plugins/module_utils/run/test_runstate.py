"""runstate.RunState: exclusive claims under real concurrency, transitions, leases, recovery."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
    RunState,
    make_token,
    token_host_pid,
)


@pytest.fixture
def rundir(tmp_path):
    rd = RunDir(str(tmp_path / "shared"), "run")
    rd.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    return rd


def _publish(rundir, n):
    state = RunState(rundir)
    for i in range(1, n + 1):
        assert state.add_todo(i)
    return state


def _age(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old))


# --- concurrency -----------------------------------------------------------------------------

def _claimer(shared, run_id, host, go, out_path):
    state = RunState(RunDir(shared, run_id))
    mine = []
    go.wait(30)
    while True:
        lease = state.claim_next(make_token(host))  # everyone races for the same ones
        if lease is None:
            break
        mine.append([lease.part_id, lease.token])
    with open(out_path, "w") as handle:
        json.dump(mine, handle)


def test_claims_are_exclusive_across_processes(rundir, tmp_path):
    _publish(rundir, 300)
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    procs = []
    for i in range(6):
        out = str(tmp_path / ("claims-%d.json" % i))
        proc = ctx.Process(target=_claimer, args=(rundir.shared_dir, rundir.run_id,
                                                  "host%d" % i, go, out))
        proc.start()
        procs.append((proc, out))
    go.set()
    claimed = []
    for proc, out in procs:
        proc.join(60)
        assert proc.exitcode == 0
        with open(out) as handle:
            claimed.extend(json.load(handle))
    ids = [pid for pid, _ in claimed]
    assert sorted(ids) == list(range(1, 301)), "a partition was claimed twice or never"
    state = RunState(rundir)
    assert state.counts() == {"todo": 0, "claimed": 300, "done": 0, "failed": 0}
    # each claimed file names its winner, and holds the winner's token
    for pid, token in claimed:
        path = os.path.join(state.dirs["claimed"], "%06d@%s" % (pid, token))
        with open(path) as handle:
            assert json.load(handle)["token"] == token
    winners = {token.split("~")[0] for _, token in claimed}
    assert len(winners) >= 2, "no real race happened"


# --- transitions -----------------------------------------------------------------------------

def test_finish_fail_release_transitions(rundir):
    state = _publish(rundir, 3)
    token = make_token("h", 1)
    a = state.claim(1, token)
    assert a.part_id == 1 and a.token == token
    assert state.claim(1, make_token("other")) is None  # already taken
    assert state.ids("claimed") == [1] and state.ids("todo") == [2, 3]
    assert state.finish(a)
    assert state.ids("done") == [1] and state.ids("claimed") == []
    assert not state.finish(a)  # settling twice is refused

    b = state.claim(2, make_token("h"))
    assert state.fail(b)
    assert state.ids("failed") == [2]
    assert not state.fail(b)

    c = state.claim(3, make_token("h"))
    assert state.release(c)
    assert state.ids("todo") == [3] and state.ids("claimed") == []
    again = state.claim(3, make_token("h2"))
    assert again is not None
    assert state.counts() == {"todo": 0, "claimed": 1, "done": 1, "failed": 1}
    assert state.claim(99, make_token("h")) is None


def _publish_manifests(rundir, n):
    state = RunState(rundir)
    for i in range(1, n + 1):
        rundir.write_manifest(i, b"f 1 0\tf%d\0" % i)
        assert state.add_todo(i)
    return state


def test_claim_next_walks_ids_in_order_and_finds_given_back_parts(rundir):
    state = _publish_manifests(rundir, 5)
    got = [state.claim_next(make_token("h")) for _ in range(3)]
    assert [lease.part_id for lease in got] == [1, 2, 3]
    assert state.release(got[0])  # given back behind the cursor (a stopping worker)
    assert sorted(state.claim_next(make_token("h")).part_id for _ in range(3)) == [1, 4, 5]
    assert state.claim_next(make_token("h")) is None
    # published after the cursor reached the end: still found
    rundir.write_manifest(6, b"f 1 0\tf6\0")
    assert state.add_todo(6)
    assert state.claim_next(make_token("h")).part_id == 6


def test_claim_next_does_not_list_the_queue(rundir, monkeypatch):
    """A claim must cost O(1) however many partitions wait (100,000 in a large run)."""
    from ansible_collections.datamover.fleet.plugins.module_utils.run import runstate
    state = _publish_manifests(rundir, 300)
    listed = []
    real = os.listdir
    monkeypatch.setattr(runstate.os, "listdir", lambda path: listed.append(path) or real(path))
    for part_id in range(1, 301):
        assert state.claim_next(make_token("h")).part_id == part_id
    assert listed == []


def test_claim_refreshes_the_lease_mtime(rundir):
    state = _publish(rundir, 1)
    _age(os.path.join(state.dirs["todo"], "000001"), 10000)
    lease = state.claim(1, make_token("h"))
    assert time.time() - os.stat(lease.path).st_mtime < 60
    assert state.reap_stale(120) == []


def test_add_todo_is_idempotent(rundir):
    state = RunState(rundir)
    assert state.add_todo(7)
    assert not state.add_todo(7)
    assert state.ids("todo") == [7]
    lease = state.claim(7, make_token("h"))
    assert not state.add_todo(7)  # claimed
    assert state.ids("todo") == []
    state.finish(lease)
    assert not state.add_todo(7)  # done
    assert state.add_todo(8)
    state.fail(state.claim(8, make_token("h")))
    assert not state.add_todo(8)  # failed
    assert state.counts() == {"todo": 0, "claimed": 0, "done": 1, "failed": 1}


def test_token_roundtrip():
    token = make_token("node-1.example.com", 3)
    host, pid = token_host_pid(token)
    assert host == "node-1.example.com" and pid == os.getpid()
    assert "@" not in make_token("we@ird/host name")
    assert "/" not in make_token("we@ird/host name")
    assert token_host_pid("garbage") == (None, None)


# --- leases and recovery ---------------------------------------------------------------------

def test_stale_lease_is_requeued_and_its_owner_notices(rundir):
    state = _publish(rundir, 2)
    stale = state.claim(1, make_token("h"))
    fresh = state.claim(2, make_token("h"))
    _age(stale.path, 1000)
    assert state.reap_stale(60) == [1]
    assert state.ids("todo") == [1]
    assert state.ids("claimed") == [2]
    assert state.heartbeat(stale) is False
    assert state.finish(stale) is False
    assert state.fail(stale) is False
    assert state.ids("done") == [] and state.ids("failed") == []
    # the fresh one is untouched and still its owner's
    assert state.heartbeat(fresh) is True
    assert state.finish(fresh) is True
    # the re-queued partition can be taken over, and the old owner still cannot settle it
    taker = state.claim(1, make_token("other"))
    assert taker is not None
    assert state.finish(stale) is False
    assert state.finish(taker) is True
    assert state.ids("done") == [1, 2]


def test_heartbeat_keeps_a_lease_alive(rundir):
    state = _publish(rundir, 1)
    lease = state.claim(1, make_token("h"))
    _age(lease.path, 1000)
    assert state.heartbeat(lease)
    assert state.reap_stale(60) == []
    assert state.ids("claimed") == [1]


def test_dead_local_owner_is_requeued_at_once(rundir):
    state = _publish(rundir, 3)
    proc = subprocess.Popen(["true"])
    proc.wait()
    dead_pid = proc.pid
    dead = state.claim(1, "myhost~%d~0~deadbeef" % dead_pid)
    alive = state.claim(2, "myhost~%d~0~cafecafe" % os.getpid())
    other_host = state.claim(3, "otherhost~%d~0~abcdabcd" % dead_pid)
    assert dead and alive and other_host
    # leases are fresh: without local knowledge nothing is stale
    assert state.reap_stale(3600) == []
    assert state.reap_stale(3600, local_host="myhost") == [1]
    assert state.ids("todo") == [1]
    assert state.ids("claimed") == [2, 3]  # live pid, and a pid on another host


def test_requeue_failed(rundir):
    state = _publish(rundir, 4)
    for pid in (1, 3):
        assert state.fail(state.claim(pid, make_token("h")))
    state.finish(state.claim(2, make_token("h")))
    assert state.requeue_failed() == [1, 3]
    assert state.ids("todo") == [1, 3, 4]
    assert state.ids("failed") == []
    assert state.ids("done") == [2]
    assert state.requeue_failed() == []


def test_claimed_listing(rundir):
    state = _publish(rundir, 2)
    lease = state.claim(2, make_token("h"))
    rows = list(state.claimed())
    assert len(rows) == 1
    pid, token, path, mtime = rows[0]
    assert (pid, token, path) == (2, lease.token, lease.path)
    assert abs(mtime - time.time()) < 60

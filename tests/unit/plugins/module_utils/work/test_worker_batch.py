"""A slot moves several partitions in one rsync while the queue is deep, and each partition is
still claimed, verified, retried and reported on its own (the real rsync, a counting wrapper)."""
from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import read_json
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker
from tests.unit.helpers import RECORD_RSYNC_PATHS, new_run, part_ids, tree_index, write, write_script

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30}


@pytest.fixture
def deep(tmp_path):
    """30 partitions of 2 files each."""
    src = tmp_path / "src"
    for d in range(30):
        for i in range(2):
            write(str(src / ("d%02d" % d) / ("f%d" % i)), b"y" * (d + i + 1))
    dst = tmp_path / "dst"
    rundir, result = new_run(tmp_path / "shared", "run", str(src), str(dst), partition_files=2)
    assert result["published"] == 30
    return rundir, str(src), str(dst)


def _counting_rsync(tmp_path, extra=""):
    """rsync that keeps the paths of each invocation in a file of calls/."""
    calls = tmp_path / "calls"
    calls.mkdir()
    body = ('case "$1" in --version) exec %s --version;; esac\n'
            'RECORD="$(mktemp -p %s)"\n%s%s "$@" || exit $?\n%s'
            % (RSYNC, calls, RECORD_RSYNC_PATHS, RSYNC, extra))
    return write_script(str(tmp_path / "rsync-wrapper"), body), calls


def _calls(calls):
    """The directories each invocation moved (whole, or file by file): [{b"d05", ...}, ...]."""
    out = []
    for name in os.listdir(str(calls)):
        with open(os.path.join(str(calls), name), "rb") as handle:
            out.append({n.split(b"/")[0] for n in handle.read().split(b"\0") if n})
    return out


def test_one_slot_moves_a_deep_queue_in_few_rsyncs_each_partition_on_its_own(tmp_path, deep):
    rundir, src, dst = deep
    wrapper, calls = _counting_rsync(tmp_path)
    result = Worker(rundir, "w1", slots=1, batch=4, binary=wrapper, **FAST).run()
    assert RunState(rundir).counts() == {"todo": 0, "claimed": 0, "done": 30, "failed": 0}
    assert tree_index(dst) == tree_index(src)
    n = len(_calls(calls))
    # the fleet's only slot has no one to share the tail with: batches of 4 to the end
    assert n == 8, n
    assert result["attempts"] == 30 and result["parts_done"] == 30
    shared_logs = 0
    for pid in part_ids(rundir):
        res = read_json(rundir.result_path(pid))
        assert res["status"] == "done" and res["verified"]["files"] == 2
        assert res["attempts"][0]["log"] == "logs/%06d.1.log" % pid
        with open(rundir.log_path(pid, 1), "rb") as handle:
            text = handle.read()
        if text.startswith(b"# moved by one rsync with partitions"):
            shared_logs += 1
            lead = text.split(b"its output is in ")[1].split(b"\n")[0].decode()
            assert os.path.exists(rundir.p("logs", lead))
    assert shared_logs == 30 - n


def test_the_tail_of_the_queue_is_not_batched(tmp_path, deep):
    """2 slots: a partition joins a batch only while 2 x (k + 1) x 2 more are queued after
    it, so the last partitions (27-30: directories d26-d29) go one by one, on both slots."""
    rundir, src, dst = deep
    wrapper, calls = _counting_rsync(tmp_path)
    Worker(rundir, "w1", slots=2, batch=8, binary=wrapper, **FAST).run()
    assert tree_index(dst) == tree_index(src)
    assert RunState(rundir).counts()["done"] == 30
    lists = _calls(calls)
    assert len(lists) < 30
    for d in range(26, 30):
        assert [dirs for dirs in lists if b"d%02d" % d in dirs] == [{b"d%02d" % d}], d


def test_a_failed_partition_of_a_batch_is_retried_alone(tmp_path, deep):
    rundir, src, dst = deep
    victim = os.path.join(dst, "d05", "f1")
    # The first transfer that wrote d05/f1 loses it again: only its partition must fail
    # verification and be moved again, with its own list (of the file that failed).
    extra = ('if [ -e %s ] && [ ! -e %s ]; then rm -f %s; touch %s; fi'
             % (victim, tmp_path / "once", victim, tmp_path / "once"))
    wrapper, calls = _counting_rsync(tmp_path, extra)
    Worker(rundir, "w1", slots=1, batch=8, binary=wrapper, **FAST).run()
    assert RunState(rundir).counts() == {"todo": 0, "claimed": 0, "done": 30, "failed": 0}
    assert tree_index(dst) == tree_index(src)
    retried = [pid for pid in part_ids(rundir)
               if len(read_json(rundir.result_path(pid))["attempts"]) == 2]
    assert retried == [6]  # d05 is the sixth directory
    first = read_json(rundir.result_path(6))["attempts"][0]
    assert first["error"].startswith("verification")
    lists = _calls(calls)
    assert {b"d05"} in lists  # the retry's list: partition 6 only
    assert sum(1 for dirs in lists if b"d05" in dirs) == 2
    raw = []
    for name in os.listdir(str(calls)):
        with open(os.path.join(str(calls), name), "rb") as handle:
            raw.append(handle.read())
    assert b"d05/f1\0" in raw  # and of it, only the file that failed verification


def test_every_partition_of_a_batch_has_begun_for_recovery(tmp_path, deep):
    """A host lost mid-batch: every partition of the batch shows an attempt began, so the
    worker that takes it over removes the killed rsync's temp files first."""
    rundir, _src, _dst = deep
    slow = write_script(str(tmp_path / "slow"), 'case "$1" in --version) exec %s --version;; '
                                                'esac; sleep 30' % RSYNC)
    worker = Worker(rundir, "w1", slots=1, batch=4, binary=slow, **FAST)
    state = RunState(rundir)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while time.time() < deadline and len(state.ids("claimed")) < 4:
        time.sleep(0.05)
    time.sleep(0.3)
    claimed = state.ids("claimed")
    assert len(claimed) == 4
    assert all(rundir.first_log_exists(pid) for pid in claimed)
    worker._on_sigterm(None, None)  # pylint: disable=protected-access
    thread.join(20)
    assert state.counts()["claimed"] == 0


def test_partitions_of_large_files_are_not_batched(tmp_path):
    """A batch saves per-process costs, which matter for small files only: two partitions of a
    130 MiB file each go to two rsyncs (other slots and hosts may take the second), even for
    the fleet's only slot, which batches everything else to the end of the queue."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        with open(str(src / ("shard-%d.pt" % i)), "wb") as handle:
            handle.truncate(130 << 20)  # sparse: fast to make, real zeros to move
    dst = tmp_path / "dst"
    rundir, result = new_run(tmp_path / "shared", "run", str(src), str(dst),
                             partition_files=2000, partition_bytes=10 << 30)
    assert result["published"] == 2
    wrapper, calls = _counting_rsync(tmp_path)
    Worker(rundir, "w1", slots=1, batch=8, binary=wrapper, **FAST).run()
    assert RunState(rundir).counts()["done"] == 2
    assert sorted(sorted(c) for c in _calls(calls)) == [[b"shard-0.pt"], [b"shard-1.pt"]]
    assert tree_index(str(dst)) == tree_index(str(src))

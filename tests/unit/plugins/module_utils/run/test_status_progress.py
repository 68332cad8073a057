"""Live progress (issue 13, point 1): files and bytes advance while partitions are in flight,
the rate is recent, the ETA holds. A real run of 40 x 12 MiB with the real rsync (rate-limited
so that it lasts long enough to be watched), polled the way the watch polls it."""
from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import (
    Rate,
    progress_line,
    read_status,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.unit.helpers import new_run, part_ids, write

RSYNC = shutil.which("rsync")
MIB = 1024 ** 2
# 5 files of this size make a partition under the first byte cap (64 MiB, partitioner.ByteCap)
FILE = 12 * MIB
SHM = "/dev/shm"


@pytest.fixture
def roomy(tmp_path):
    """A place for 480 MiB of destination that does not wait for a disk's writeback."""
    if os.path.isdir(SHM) and shutil.disk_usage(SHM).free > 6 * 1024 ** 3:
        base = os.path.join(SHM, "dm-progress-%d" % os.getpid())
        os.makedirs(base)
        yield base
        shutil.rmtree(base, ignore_errors=True)
    else:
        yield str(tmp_path)


@pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
def test_eta_after_a_quarter_of_the_bytes_is_within_25_percent(tmp_path, roomy):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):  # sparse: 480 MiB to read, nothing stored
        with open(src / ("f%02d" % i), "wb") as handle:
            handle.truncate(FILE)
    dst = os.path.join(roomy, "dst")
    os.makedirs(dst)
    # 5 files a partition: each one is in flight for about seven seconds
    rundir, _ = new_run(tmp_path / "shared", "eta", str(src), dst, partition_files=5,
                        tool_options=["--bwlimit=9M"])
    assert len(part_ids(rundir)) == 8
    worker = Worker(rundir, "w1", slots=2, retries=0, poll=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    started = time.time()
    thread.start()
    rate, polls, eta_at_quarter = Rate(30.0), [], None
    while thread.is_alive():
        st = read_status(rundir)
        now = time.time()
        rate.add(now, st["bytes_done"])
        polls.append((now - started, st, progress_line(st, rate.rate(), now - started)))
        if eta_at_quarter is None and st["bytes_done"] >= st["bytes_total"] / 4:
            eta_at_quarter = (now, rate.eta(st["bytes_total"] - st["bytes_done"]))
        time.sleep(0.25)
    thread.join()
    finished = time.time()
    st = read_status(rundir)
    assert st["complete"] and st["bytes_done"] == 40 * FILE and st["files_done"] == 40
    # files and bytes moved while no partition had settled yet
    early = [s for _t, s, _l in polls if s["parts"]["done"] == 0 and s["bytes_done"] > 0]
    assert early, "progress must advance while partitions are in flight"
    assert max(s["files_done"] for s in early) >= 2
    # it advances smoothly: never a jump of more than 2 partitions' worth
    seen = [s["bytes_done"] for _t, s, _l in polls]
    assert max(b - a for a, b in zip(seen, seen[1:])) <= 2 * 5 * FILE
    # never 100% while anything is claimed
    for _t, s, line in polls:
        if s["parts"]["claimed"] or s["parts"]["todo"]:
            assert "(100%)" not in line, line
    when, eta = eta_at_quarter
    actual = finished - when
    assert eta is not None and abs(eta - actual) <= 0.25 * actual, (
        "ETA %.1fs at 25%% of the bytes; %.1fs remained. Lines:\n%s"
        % (eta, actual, "\n".join(line for _t, _s, line in polls[::4])))


def test_rsync_progress_counts_arrived_files_within_a_budget(tmp_path):
    entries = [("f", 3, 0, b"d/a"), ("f", 4, 0, b"d/b"), ("d", 0, 0, b"e"), ("f", 5, 0, b"c")]
    write(str(tmp_path / "dst" / "d" / "a"), b"xxx")
    write(str(tmp_path / "dst" / "d" / ".b.Ab12Cd"), b"xx")  # rsync's temp file: not arrived
    write(str(tmp_path / "dst" / "c"), b"xx")                 # not the whole of it yet
    tool = RsyncTool(str(tmp_path / "src"), str(tmp_path / "dst"))
    memo = {}
    assert tool.progress(entries, None, memo, budget=2) == (1, 3)
    assert tool.progress(entries, None, memo, budget=2) == (1, 3)
    write(str(tmp_path / "dst" / "c"), b"xxxxx")
    write(str(tmp_path / "dst" / "d" / "b"), b"xxxx")
    assert tool.progress(entries, None, memo) == (3, 12)


def test_rclone_progress_reads_the_last_json_stats_line(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(
        b'$ rclone copy ...\n'
        b'{"level":"info","msg":"Copied (new)","object":"a"}\n'
        b'{"level":"info","msg":"1 MiB / 3 MiB","stats":{"bytes":1048576,"transfers":1}}\n')
    tool, memo = RcloneTool("/s", "r:b"), {}
    assert tool.progress([], str(log), memo) == (1, 1048576)
    with open(log, "ab") as handle:
        handle.write(b'{"level":"info","msg":"2 MiB / 3 MiB","stats":{"bytes":2097152,'
                     b'"transfers":2}}\n{"level":"info","msg":"Copied (new)"}\n')
    assert tool.progress([], str(log), memo) == (2, 2097152)
    assert tool.progress([], str(log), memo) == (2, 2097152)  # nothing new: the last one

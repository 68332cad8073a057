"""worker.Worker against the real rsync: moves, retries, STOP, sharing a run, failed plans."""
from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import threading
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_json,
    read_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    ToolError,
)
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.unit.helpers import (
    RECORD_RSYNC_PATHS,
    new_run,
    part_ids,
    part_totals,
    tree_index,
    worker_record,
    write,
    write_script,
)

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")

# batch=1: these tests follow single partitions; test_worker_batch.py covers batches.
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30, "batch": 1}


@pytest.fixture
def src(tmp_path):
    root = os.fsencode(str(tmp_path / "src"))
    names = [b"plain", b"with space", b"new\nline", b"-dash", b"$(touch pwned)", b"bad-\xff",
             b"star*", b"tab\tname"]
    for i, name in enumerate(names):
        write(os.path.join(root, b"top", name), b"%d" % i * (i * 100 + 1))
    for d in range(3):
        for i in range(6):
            write(os.path.join(root, b"d%d" % d, b"sub", b"f%d" % i), b"x" * (d * 1000 + i))
    os.makedirs(os.path.join(root, b"empty-dir"))
    os.symlink(b"top/plain", os.path.join(root, b"a-link"))
    os.symlink(b"../nowhere", os.path.join(root, b"dangling"))
    write(os.path.join(root, b"empty-file"), b"")
    return os.fsdecode(root)


def _run(tmp_path, src, run_id="run", files=4):
    dst = tmp_path / "dst"
    dst.mkdir(exist_ok=True)
    rundir, result = new_run(tmp_path / "shared", run_id, src, str(dst), partition_files=files)
    assert result["published"] >= 2
    return rundir, str(dst)


def _dest(dst):
    """The destination tree, checked for rsync temp files (.<name>.XXXXXX) left behind."""
    index = tree_index(dst)
    leftovers = [p for p in index if re.match(rb"^\..+\.[A-Za-z0-9]{6}$", os.path.basename(p))]
    assert leftovers == [], "rsync temp files left behind: %r" % leftovers
    return index


def _run_in_thread(worker, timeout=60):
    box = {}

    def target():
        try:
            box["result"] = worker.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    started = time.time()
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "worker did not exit within %ds" % timeout
    box["seconds"] = time.time() - started
    return box


def test_worker_moves_everything(tmp_path, src):
    rundir, dst = _run(tmp_path, src)
    parts = part_ids(rundir)
    result = Worker(rundir, "w1", slots=2, retries=1, **FAST).run()
    state = RunState(rundir)
    assert state.counts() == {"todo": 0, "claimed": 0, "done": len(parts), "failed": 0}
    assert _dest(dst) == tree_index(src)
    plan = rundir.plan()
    assert result["parts_done"] == len(parts) and result["parts_failed"] == 0
    assert result["files"] == plan["files"] and result["bytes"] == plan["bytes"]
    assert result["attempts"] == len(parts)
    assert result["stopped"] is False
    for pid in parts:
        res = read_json(rundir.result_path(pid))
        assert res["status"] == "done"
        assert res["host"] == "w1"
        assert len(res["attempts"]) == 1 and res["attempts"][0]["rc"] == 0
        assert res["attempts"][0]["log"] == "logs/%06d.1.log" % pid
        assert os.path.exists(rundir.log_path(pid, 1))
        assert res["verified"]["mismatches"] == 0
        assert (res["files"], res["bytes"]) == part_totals(rundir, pid)
    assert sum(read_json(rundir.result_path(p))["verified"]["files"] for p in parts) \
        == plan["files"]
    record = worker_record(rundir, "w1")
    assert record["status"] == "exited" and record["rc"] == 0
    assert record["parts_done"] == len(parts) and record["files"] == plan["files"]
    assert not os.path.exists(os.path.join(str(tmp_path), "pwned"))
    # workdirs are cleaned up
    assert [n for n in os.listdir(rundir.p("tmp")) if not n.startswith("clock-")] == []


def test_rerun_of_finished_run_does_nothing(tmp_path, src):
    rundir, _ = _run(tmp_path, src)
    Worker(rundir, "w1", slots=2, **FAST).run()
    again = Worker(rundir, "w1", slots=2, **FAST).run()
    assert again["parts_done"] == 0 and again["attempts"] == 0


def test_failing_tool_retries_then_fails(tmp_path, src):
    rundir, dst = _run(tmp_path, src, files=12)  # few partitions
    parts = part_ids(rundir)
    fake = write_script(tmp_path / "fake-rsync", 'echo "fake failure $#" >&2\nexit 1')
    box = _run_in_thread(Worker(rundir, "w1", slots=2, retries=2, binary=fake, **FAST))
    assert "error" not in box, box.get("error")
    result = box["result"]
    state = RunState(rundir)
    assert state.ids("failed") == parts
    assert state.counts()["done"] == 0 and state.counts()["todo"] == 0
    assert result["parts_failed"] == len(parts) and result["parts_done"] == 0
    assert result["attempts"] == 3 * len(parts)
    for pid in parts:
        res = read_json(rundir.result_path(pid))
        assert res["status"] == "failed"
        assert [a["attempt"] for a in res["attempts"]] == [1, 2, 3]
        for a in res["attempts"]:
            assert a["rc"] == 1
            assert a["error"] == "rsync exited with code 1"
            with open(os.path.join(rundir.path, a["log"]), "rb") as handle:
                log = handle.read()
            assert b"fake failure" in log
            assert log.startswith(b"$ " + fake.encode())
        assert not os.path.exists(rundir.log_path(pid, 4))
    assert _dest(dst) == {}
    assert worker_record(rundir, "w1")["parts_failed"] == len(parts)


def test_resumed_failed_partition_numbers_attempts_on(tmp_path, src):
    rundir, _ = _run(tmp_path, src, files=12)
    fake = write_script(tmp_path / "fake-rsync", "exit 1")
    Worker(rundir, "w1", slots=1, retries=0, binary=fake, **FAST).run()
    assert RunState(rundir).requeue_failed()
    Worker(rundir, "w1", slots=1, retries=0, **FAST).run()
    for pid in part_ids(rundir):
        res = read_json(rundir.result_path(pid))
        assert res["status"] == "done"
        assert [a["attempt"] for a in res["attempts"]] == [1, 2]
        assert os.path.exists(rundir.log_path(pid, 2))


def test_missing_binary_is_refused_with_a_message(tmp_path, src):
    rundir, _ = _run(tmp_path, src, files=12)
    with pytest.raises(ToolError, match="does not exist or is not executable"):
        Worker(rundir, "w1", slots=1, retries=0, binary=str(tmp_path / "no-such-rsync"), **FAST)
    assert RunState(rundir).ids("failed") == []  # nothing was claimed


def test_binary_that_disappears_fails_partitions_with_a_message(tmp_path, src):
    rundir, _ = _run(tmp_path, src, files=12)
    binary = tmp_path / "rsync-gone"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    worker = Worker(rundir, "w1", slots=1, retries=0, binary=str(binary), **FAST)
    binary.unlink()
    box = _run_in_thread(worker)
    assert "error" not in box
    for pid in part_ids(rundir):
        res = read_json(rundir.result_path(pid))
        assert res["status"] == "failed"
        assert "cannot run" in res["attempts"][0]["error"]


def test_stop_file_leaves_todo_untouched(tmp_path, src):
    rundir, _ = _run(tmp_path, src)
    before = RunState(rundir).ids("todo")
    rundir.request_stop()
    box = _run_in_thread(Worker(rundir, "w1", slots=2, **FAST), timeout=20)
    assert box["seconds"] < 5
    result = box["result"]
    assert result["stopped"] is True and result["parts_done"] == 0
    assert RunState(rundir).ids("todo") == before
    assert os.listdir(rundir.p("results")) == []
    assert worker_record(rundir, "w1")["status"] == "stopped"


def test_stop_during_run_finishes_current_partition_only(tmp_path, src):
    rundir, _dst = _run(tmp_path, src)
    parts = part_ids(rundir)
    wrapper = write_script(tmp_path / "stopping-rsync",
                           ': > "%s"\nexec %s "$@"' % (rundir.p("STOP"), RSYNC))
    box = _run_in_thread(Worker(rundir, "w1", slots=1, binary=wrapper, **FAST))
    result = box["result"]
    state = RunState(rundir)
    assert result["stopped"] is True
    assert len(state.ids("done")) == 1
    assert state.counts()["claimed"] == 0 and state.counts()["failed"] == 0
    assert len(state.ids("todo")) == len(parts) - 1


def _worker_process(shared, run_id, host, binary):
    Worker(RunDir(shared, run_id), host, slots=2, binary=binary, **FAST).run()


def test_two_workers_share_a_run_exactly_once(tmp_path, src):
    rundir, dst = _run(tmp_path, src, files=2)
    parts = part_ids(rundir)
    calls = tmp_path / "calls"
    wrapper = write_script(tmp_path / "slow-rsync", (
        'RECORD="$(mktemp -p %s)"\necho "$RECORD" >> "%s"\n%ssleep 0.1\nexec %s "$@"')
        % (tmp_path, calls, RECORD_RSYNC_PATHS, RSYNC))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker_process,
                         args=(rundir.shared_dir, rundir.run_id, host, wrapper))
             for host in ("w1", "w2")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    state = RunState(rundir)
    assert state.ids("done") == parts
    assert _dest(dst) == tree_index(src)
    sent = []
    for record in calls.read_text().splitlines():
        with open(record, "rb") as handle:
            sent += handle.read().split(b"\0")[:-1]
    assert sent and len(sent) == len(set(sent)), "a path was moved twice"
    records = [worker_record(rundir, h) for h in ("w1", "w2")]
    assert sum(r["parts_done"] for r in records) == len(parts)
    assert all(r["parts_done"] > 0 for r in records), "one worker did all the work"
    assert sum(r["files"] for r in records) == rundir.plan()["files"]
    hosts = {read_json(rundir.result_path(p))["host"] for p in parts}
    assert hosts == {"w1", "w2"}


def test_dead_local_worker_claim_is_taken_over(tmp_path, src):
    rundir, dst = _run(tmp_path, src)
    state = RunState(rundir)
    import subprocess
    proc = subprocess.Popen(["true"])
    proc.wait()
    lease = state.claim(1, "w1~%d~0~deadbeef" % proc.pid)
    assert lease is not None
    result = Worker(rundir, "w1", slots=1, **FAST).run()
    assert state.ids("done") == part_ids(rundir)
    assert result["requeued_stale"] == 1
    assert _dest(dst) == tree_index(src)


def test_worker_exits_promptly_when_plan_failed(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "failed-plan")
    rundir.create_or_check({"source": str(tmp_path), "destination": str(tmp_path / "d"),
                            "tool": "rsync"})
    rundir.mark_plan_failed("boom")
    box = _run_in_thread(Worker(rundir, "w1", slots=2, **FAST), timeout=20)
    assert "error" not in box
    assert box["seconds"] < 3
    assert box["result"]["parts_done"] == 0
    assert worker_record(rundir, "w1")["status"] == "exited"


def test_worker_processes_published_parts_of_a_failed_plan(tmp_path, src):
    rundir, _dst = _run(tmp_path, src)
    os.unlink(rundir.p("plan.json"))
    rundir.mark_plan_failed("boom")
    box = _run_in_thread(Worker(rundir, "w1", slots=2, **FAST), timeout=30)
    assert RunState(rundir).ids("done") == part_ids(rundir)
    assert box["result"]["parts_done"] == len(part_ids(rundir))


def test_plan_and_work_moves_everything_while_crawling(tmp_path, src):
    from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import plan_and_work
    dst = tmp_path / "dst-pw"
    rundir = RunDir(str(tmp_path / "shared-pw"), "pw")
    params = {"source": str(src), "destination": str(dst), "tool": "rsync", "engine": "native",
              "partition_files": 5, "partition_bytes": 10 ** 9, "excludes": [],
              "tool_options": [], "verify": "size", "symlinks": "links", "threads": 2}
    result = plan_and_work(rundir, "w1", params, slots=2, **FAST)
    assert result["created"] is True and result["plan"]["parts"] >= 2
    assert result["parts_done"] == result["plan"]["parts"]
    assert RunState(rundir).counts()["done"] == result["plan"]["parts"]


def test_idle_slots_wake_when_this_process_publishes_the_plan(tmp_path, src):
    """Slots idle for 12 s on a run whose crawl has not published anything sleep in back-offs
    of 5 s, then 10 s (poll 60). The crawl of the same process publishes: they move it and
    leave at once, not when their back-off ends (8 s later)."""
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import crawl, open_run
    rundir = RunDir(str(tmp_path / "shared-wk"), "wk")
    params = {"source": str(src), "destination": str(tmp_path / "dst-wk"), "tool": "rsync",
              "engine": "native", "partition_files": 5, "partition_bytes": 10 ** 9,
              "excludes": [], "tool_options": [], "verify": "size", "symlinks": "links",
              "threads": 2}
    meta = open_run(rundir, params)[0]
    worker = Worker(rundir, "w1", slots=2, **dict(FAST, poll=60))
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=worker.run()), daemon=True)
    thread.start()
    time.sleep(12)
    assert thread.is_alive()
    published = time.time()
    plan = crawl(rundir, meta, 2)[0]
    thread.join(30)
    assert not thread.is_alive()
    assert time.time() - published < 4
    assert box["result"]["parts_done"] == plan["parts"] >= 4


def test_plan_and_work_reports_a_failed_crawl(tmp_path, monkeypatch):
    from ansible_collections.datamover.fleet.plugins.module_utils.plan import planning
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import PlanError
    from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import plan_and_work
    rundir = RunDir(str(tmp_path / "shared-pf"), "pf")
    params = {"source": str(tmp_path / "not-there"), "destination": str(tmp_path / "d"),
              "tool": "rsync", "engine": "native", "partition_files": 5,
              "partition_bytes": 10 ** 9, "excludes": [], "tool_options": [], "verify": "size",
              "symlinks": "links", "threads": 2}
    # A source that is not there is refused before the run exists (issue 25): nothing is
    # left behind, and the message names the source and what to do.
    with pytest.raises(PlanError, match="the source .*not-there cannot be read .*unmounted"):
        plan_and_work(rundir, "w1", params, slots=1, **FAST)
    assert not rundir.exists()
    # A crawl that fails once the run exists is recorded in plan.failed for every worker.
    os.makedirs(params["source"])

    def failing_crawl(*args, **kwargs):
        raise OSError("cannot list the source: boom")
    monkeypatch.setattr(planning, "plan_native", failing_crawl)
    with pytest.raises(PlanError, match="planning failed: cannot list the source: boom"):
        plan_and_work(rundir, "w1", params, slots=1, **FAST)
    assert rundir.plan_failed()["error"] == "cannot list the source: boom"
    assert worker_record(rundir, "w1")["status"] == "exited"

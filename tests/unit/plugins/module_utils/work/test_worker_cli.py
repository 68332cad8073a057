"""worker_cli: the worker loop as a command (what a pod runs), against the real rsync."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.work import worker_cli
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState

from tests.conftest import COLLECTIONS
from tests.unit.helpers import new_run, tree_index, write, write_script

RSYNC = shutil.which("rsync")
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
FAST = ["--backoff", "0.01", "--backoff-max", "0.05", "--poll", "0.05", "--run-wait", "0"]


@pytest.fixture
def run(tmp_path):
    src = tmp_path / "src"
    for d in range(4):
        for f in range(6):
            write(str(src / ("d%d" % d) / ("f%d" % f)), b"x" * (d * 100 + f))
    rundir, _ = new_run(tmp_path / "shared", "cli", src, tmp_path / "dst", partition_files=5)
    return rundir, src, tmp_path / "dst"


def _argv(rundir, *extra):
    return ["--shared-dir", rundir.shared_dir, "--run-id", rundir.run_id, "--worker", "pod-a"] \
        + FAST + list(extra)


def test_drains_the_queue_and_exits_0(run, capsys):
    rundir, src, dst = run
    assert worker_cli.main(_argv(rundir, "--slots", "3")) == 0
    moved = {k: v for k, v in tree_index(dst).items() if not k.startswith(b".datamover-tmp")}
    assert moved == tree_index(src)
    counts = RunState(rundir).counts()
    assert counts["todo"] == counts["claimed"] == counts["failed"] == 0
    out = capsys.readouterr()
    assert '"host": "pod-a"' in out.out and '"parts_done": %d' % counts["done"] in out.out
    assert os.path.exists(rundir.p("workers", "pod-a.json"))


def test_unknown_run_is_one_line_and_code_2(tmp_path, capsys):
    code = worker_cli.main(["--shared-dir", str(tmp_path), "--run-id", "nope", "--worker", "w",
                            "--run-wait", "0"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("datamover worker w: ") and "no run.json" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_missing_arguments_are_code_2(capsys, monkeypatch):
    monkeypatch.delenv("DATAMOVER_SHARED_DIR", raising=False)
    monkeypatch.delenv("DATAMOVER_RUN_ID", raising=False)
    assert worker_cli.main(["--worker", "w"]) == 2
    assert "--shared-dir and --run-id are required" in capsys.readouterr().err


def test_stop_file_is_code_3(run, capsys):
    rundir, _, _ = run
    open(rundir.p("STOP"), "w").close()
    assert worker_cli.main(_argv(rundir)) == 3
    assert "STOP file" in capsys.readouterr().err.strip().splitlines()[-1]


def test_sigterm_stops_cleanly_and_releases_the_claim(run, tmp_path):
    """python -m ... as a pod runs it; SIGTERM (pod deleted) mid-transfer: the claim goes back
    to todo at once (no lease wait) and the exit code says work is left."""
    rundir, _, _ = run
    slow = write_script(tmp_path / "slow-rsync", "sleep 30; exec %s \"$@\"" % RSYNC)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.datamover.fleet.plugins.module_utils.work.worker_cli"]
        + _argv(rundir, "--slots", "1", "--tool-path", slow),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = RunState(rundir)
    deadline = time.time() + 30
    while time.time() < deadline and state.counts()["claimed"] == 0:
        time.sleep(0.05)
    assert state.counts()["claimed"] >= 1  # a batch may hold more than one
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert state.counts()["claimed"] == 0 and state.counts()["done"] == 0
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("datamover worker pod-a: stopped with") and "not settled" in last

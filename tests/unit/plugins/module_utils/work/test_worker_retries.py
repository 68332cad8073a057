"""Retries redo only what failed, and only when it can help (issue 13, point 3), with the real
rsync and rclone behind thin wrappers that lose or rename one file the way a store or a
flaky link would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unicodedata

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import read_json
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.tools import find_binary
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.unit.helpers import RECORD_RSYNC_PATHS, new_run, part_ids, write, write_script
from tests.conftest import ROOT

RSYNC = shutil.which("rsync")
try:
    RCLONE = find_binary("rclone")
except ToolError:
    RCLONE = None
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30}
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


@pytest.fixture(autouse=True)
def _no_rclone_config(monkeypatch):
    monkeypatch.setenv("RCLONE_CONFIG", "/dev/null")


def _tree(root, n=20):
    for i in range(n):
        write(os.path.join(root, "d", "f%02d" % i), b"x" * (i + 1))
    return str(root)


def _only_part(rundir):
    parts = part_ids(rundir)
    assert len(parts) == 1
    return read_json(rundir.result_path(parts[0]))


@pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
def test_a_retry_moves_only_the_files_that_failed_verification(tmp_path):
    src, dst = _tree(tmp_path / "src"), tmp_path / "dst"
    dst.mkdir()
    rundir, _ = new_run(tmp_path / "shared", "r", src, str(dst), partition_files=100)
    lists = tmp_path / "lists"
    # The first attempt "loses" one file after rsync wrote it: a flaky link, in effect.
    wrapper = write_script(tmp_path / "rsync", (
        'RECORD=%s\n%sprintf "\\n--\\n" >> %s\n'
        '%s "$@" || exit $?\n'
        'if [ ! -e %s ]; then touch %s; rm -f %s; fi'
        % (lists, RECORD_RSYNC_PATHS, lists, RSYNC, tmp_path / "lost-once", tmp_path / "lost-once",
           dst / "d" / "f07")))
    result = Worker(rundir, "w1", slots=1, retries=3, binary=wrapper, **FAST).run()
    assert result["parts_done"] == 1
    res = _only_part(rundir)
    assert [(a["attempt"], a["files"], a["failure_class"]) for a in res["attempts"]] == [
        (1, 20, "transient"), (2, 1, None)]  # 20 files, then the one that failed
    assert "d/f07: missing at destination" in res["attempts"][0]["error"]
    sent = lists.read_bytes().split(b"\n--\n")
    assert sent[1] == b"d/f07\0", "the retry must hand rsync the failed file alone"
    assert res["verified"]["files"] == 20 and res["verified"]["mismatches"] == 0
    assert res["not_copied"] == []
    assert (dst / "d" / "f07").read_bytes() == b"x" * 8


@pytest.mark.skipif(RCLONE is None, reason="rclone is not installed")
def test_a_name_the_store_rewrites_fails_at_once_without_retries(tmp_path):
    """The store keeps an NFD name as NFC: our listing misses it, rclone's HEAD finds it, and
    every retry would 'transfer nothing'. It is deterministic: reported, not retried."""
    nfd = unicodedata.normalize("NFD", "caf\u00e9").encode()
    nfc = unicodedata.normalize("NFC", "caf\u00e9").encode()
    src = os.fsencode(_tree(tmp_path / "src", 5))
    write(os.path.join(src, b"d", nfd), b"accent")
    dst = tmp_path / "dst"
    dst.mkdir()
    rundir, _ = new_run(tmp_path / "shared", "r", os.fsdecode(src), str(dst), tool="rclone",
                        partition_files=100)
    calls = tmp_path / "calls"
    wrapper = write_script(tmp_path / "rclone", (
        'echo "$1" >> %s\n%s "$@" || exit $?\n'
        'if [ "$1" = copy ]; then mv %s %s; fi'
        % (calls, RCLONE, os.fsdecode(os.path.join(os.fsencode(str(dst)), b"d", nfd)),
           os.fsdecode(os.path.join(os.fsencode(str(dst)), b"d", nfc)))))
    result = Worker(rundir, "w1", slots=1, retries=3, binary=wrapper, **FAST).run()
    assert result["parts_failed"] == 1
    res = _only_part(rundir)
    assert len(res["attempts"]) == 1, "a deterministic failure must not be retried"
    assert res["attempts"][0]["failure_class"] == "deterministic"
    assert calls.read_text().split().count("copy") == 1
    [rec] = res["not_copied"]
    assert rec["path"] == "d/" + nfd.decode() and rec["class"] == "deterministic"
    assert "holds it as" in rec["reason"] and rec["attempt"] == 1
    assert res["verified"]["files"] == 5 and res["verified"]["mismatches"] == 1


_UNREADABLE_WORKER = """
import json, sys
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker
rd = RunDir(sys.argv[1], sys.argv[2])
out = Worker(rd, "w1", slots=1, retries=3, backoff=0.01, backoff_max=0.05, poll=0.05).run()
print(json.dumps({"failed": out["parts_failed"]}))
"""


@pytest.mark.skipif(RSYNC is None or shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root, rsync and setpriv")
def test_an_unreadable_source_file_fails_at_once_without_retries(tmp_path):
    src, dst = _tree(tmp_path / "src", 4), tmp_path / "dst"
    dst.mkdir()
    secret = write(os.path.join(src, "d", "secret"), b"no")
    rundir, _ = new_run(tmp_path / "shared", "r", src, str(dst), partition_files=100)
    os.chown(secret, 65534, 65534)
    os.chmod(secret, 0o600)
    # As root every file is readable: the worker (and its rsync) run without DAC override.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search", "--"]
    proc = subprocess.run(drop + [sys.executable, "-c", _UNREADABLE_WORKER, rundir.shared_dir,
                                  rundir.run_id],
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS), capture_output=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    res = _only_part(RunDir(rundir.shared_dir, rundir.run_id))
    assert len(res["attempts"]) == 1, res["attempts"]
    assert res["attempts"][0]["failure_class"] == "deterministic"
    [rec] = res["not_copied"]
    assert rec["path"] == "d/secret" and rec["class"] == "deterministic"
    assert rec["reason"].startswith("source file unreadable")
    assert RunState(RunDir(rundir.shared_dir, rundir.run_id)).counts()["failed"] == 1


def test_a_destination_path_too_long_is_deterministic(tmp_path):
    name = b"n" * 200
    path = write(os.path.join(os.fsencode(str(tmp_path / "src")), name), b"x")
    deep = str(tmp_path / "dst") + "/" + "/".join(["d" * 250] * 16)  # over PATH_MAX
    # the crawl's record of the file (a file that changed since would be reported as changed)
    entry = ("f", 1, os.lstat(path).st_mtime_ns, name)
    result = RsyncTool(str(tmp_path / "src"), deep).verify([entry])
    [(entry, reason, cls)] = result.failed
    assert cls == "deterministic" and reason.startswith("path longer than the destination")

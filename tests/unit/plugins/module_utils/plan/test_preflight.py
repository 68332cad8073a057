"""preflight checks: one clear message per problem."""
from __future__ import annotations

import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan import preflight as pf
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    read_canary,
    remove_canary,
    write_canary,
)

from tests.unit.helpers import write, write_script

# --- source ----------------------------------------------------------------------------------

def test_check_source_ok(tmp_path):
    write(str(tmp_path / "src" / "f"), b"x")
    assert pf.check_source(str(tmp_path / "src")) == []
    os.makedirs(tmp_path / "empty")
    assert pf.check_source(str(tmp_path / "empty")) == []


def test_check_source_missing(tmp_path):
    msgs = pf.check_source(str(tmp_path / "nope"))
    assert len(msgs) == 1
    assert "does not exist" in msgs[0] and str(tmp_path / "nope") in msgs[0]
    assert "mounted" in msgs[0]


def test_check_source_is_a_file(tmp_path):
    write(str(tmp_path / "file"), b"x")
    msgs = pf.check_source(str(tmp_path / "file"))
    assert len(msgs) == 1 and "not a directory" in msgs[0]


@pytest.mark.parametrize("path", ["relative/path", "", None, "./x"])
def test_check_source_relative(path):
    msgs = pf.check_source(path)
    assert len(msgs) == 1 and "absolute path" in msgs[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_check_source_unreadable(tmp_path):  # pragma: no cover - not run as root
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        msgs = pf.check_source(str(d))
        assert len(msgs) == 1 and "not readable" in msgs[0]
    finally:
        d.chmod(0o755)


# --- shared dir ------------------------------------------------------------------------------

def test_check_shared_same_directory(tmp_path):
    shared = str(tmp_path / "shared")
    nonce = write_canary(shared)
    assert read_canary(shared, nonce) == nonce
    assert pf.check_shared(shared, nonce) == []
    assert pf.check_shared(shared) == []


def test_check_shared_wrong_nonce(tmp_path):
    shared = str(tmp_path / "shared")
    write_canary(shared)
    other = str(tmp_path / "other")
    nonce = write_canary(other)
    msgs = pf.check_shared(shared, nonce)
    assert len(msgs) == 1
    assert "same directory" in msgs[0] and shared in msgs[0]
    # a canary file with the right name but other content is not the same directory either
    remove_canary(shared, nonce)
    planted = write_canary(shared)
    os.rename(os.path.join(shared, ".datamover-canary-" + planted),
              os.path.join(shared, ".datamover-canary-" + nonce))
    assert "same directory" in pf.check_shared(shared, nonce)[0]


def test_check_shared_missing_and_relative(tmp_path):
    msgs = pf.check_shared(str(tmp_path / "nope"))
    assert len(msgs) == 1 and "does not exist" in msgs[0]
    assert "absolute path" in pf.check_shared("rel/dir")[0]


def test_check_shared_not_writable():
    msgs = pf.check_shared("/proc/1")
    assert len(msgs) == 1 and "not writable" in msgs[0]


# --- limits ----------------------------------------------------------------------------------

def test_check_limits():
    assert pf.check_limits({"slots": 2, "partition_files": 10, "partition_bytes": 1}) == []
    assert pf.check_limits({}) == []
    msgs = pf.check_limits({"slots": 0, "partition_files": -3, "partition_bytes": "10"})
    assert len(msgs) == 3
    assert any("datamover_slots" in m and "0" in m for m in msgs)
    assert any("datamover_partition_files" in m and "-3" in m for m in msgs)
    assert any("datamover_partition_bytes" in m for m in msgs)
    assert all("positive integer" in m for m in msgs)


# --- tools -----------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_check_tool_rsync_ok():
    msgs, binary = pf.check_tool("rsync")
    assert msgs == []
    assert binary and os.path.basename(binary) == "rsync"


def test_check_tool_old_rclone(tmp_path):
    fake = write_script(tmp_path / "rclone", 'echo "rclone v1.60.1"\necho "- os/version: x"')
    msgs, binary = pf.check_tool("rclone", explicit_binary=fake)
    assert binary == fake
    assert len(msgs) == 1
    assert "1.60.1" in msgs[0] and "1.61" in msgs[0] and fake in msgs[0]


def test_check_tool_new_enough_rclone(tmp_path):
    fake = write_script(tmp_path / "rclone", 'echo "rclone v1.61.0"')
    assert pf.check_tool("rclone", explicit_binary=fake) == ([], fake)


def test_check_tool_unknown_version(tmp_path):
    fake = write_script(tmp_path / "rsync", "echo hello")
    msgs, _ = pf.check_tool("rsync", explicit_binary=fake)
    assert len(msgs) == 1 and "unknown" in msgs[0]


def test_check_tool_unknown_tool():
    msgs, binary = pf.check_tool("scp")
    assert binary is None and "one of rclone, rsync" in msgs[0]


def test_check_tool_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # and rsync is not next to the venv's python
    msgs, binary = pf.check_tool("rsync")
    assert binary is None
    assert len(msgs) == 1 and "not installed" in msgs[0]


@pytest.mark.parametrize("what", ["missing", "not-executable"])
def test_check_tool_bad_explicit_path_is_a_message(tmp_path, what):
    """A wrong datamover_tool_path is a problem to report, not a crash of the preflight."""
    path = str(tmp_path / "rsync")
    if what == "not-executable":
        write(path, b"#!/bin/sh\necho rsync version 3.2.7\n")
        os.chmod(path, 0o644)
    msgs, _ = pf.check_tool("rsync", explicit_binary=path)
    assert len(msgs) == 1 and path in msgs[0]


# --- destination -----------------------------------------------------------------------------

def test_check_destination_rsync_ok(tmp_path):
    dst = str(tmp_path / "new-dst")
    assert pf.check_destination("rsync", dst, "/usr/bin/rsync") == []
    assert not os.path.exists(dst)  # nothing left: neither the probe nor the directory
    os.mkdir(dst)
    assert pf.check_destination("rsync", dst, "/usr/bin/rsync") == []
    assert os.listdir(dst) == []  # the probe is removed


def test_check_destination_rsync_not_writable():
    msgs = pf.check_destination("rsync", "/proc/datamover-unit-test", "/usr/bin/rsync")
    assert len(msgs) == 1
    assert "/proc/datamover-unit-test" in msgs[0] and "not writable" in msgs[0]


def test_check_destination_rsync_relative_and_no_parent(tmp_path):
    assert "absolute path" in pf.check_destination("rsync", "rel/dst", "rsync")[0]
    msgs = pf.check_destination("rsync", str(tmp_path / "a" / "b"), "rsync")
    assert len(msgs) == 1 and "parent" in msgs[0]


def test_check_destination_rsync_without_probe_writes_nothing(tmp_path):
    assert pf.check_destination("rsync", str(tmp_path / "d"), "rsync", probe=False) == []
    assert not os.path.exists(tmp_path / "d")


@pytest.mark.parametrize("dest", ["/abs/path", "no-colon", "", None])
def test_check_destination_rclone_shape(dest):
    msgs = pf.check_destination("rclone", dest, "rclone")
    assert len(msgs) == 1 and "remote:bucket" in msgs[0]


def test_check_destination_rclone_missing_config(tmp_path):
    msgs = pf.check_destination("rclone", "oci:bucket", "rclone",
                                rclone_config=str(tmp_path / "nope.conf"))
    assert len(msgs) == 1 and "does not exist" in msgs[0]


def test_check_destination_rclone_unknown_remote(tmp_path, monkeypatch):
    fake = write_script(tmp_path / "rclone", 'echo "other:"\necho "oci2:"')
    conf = write(str(tmp_path / "rclone.conf"), b"")
    monkeypatch.delenv("RCLONE_CONFIG_OCI_TYPE", raising=False)
    msgs = pf.check_destination("rclone", "oci:bucket", fake, rclone_config=os.fsdecode(conf))
    assert len(msgs) == 1
    assert "'oci'" in msgs[0] and "other, oci2" in msgs[0]
    monkeypatch.setenv("RCLONE_CONFIG_OCI_TYPE", "oracleobjectstorage")
    assert pf.check_destination("rclone", "oci:bucket", fake, rclone_config=os.fsdecode(conf),
                                probe=False) == []


def test_check_destination_rsync_from_many_workers_at_once(tmp_path):
    """Workers probe the same destination at the same moment: none may see another's probe
    come and go (a probe that made and removed the directory failed a worker here)."""
    import threading
    dst = str(tmp_path / "shared-dst")
    results = []

    def probe():
        for _ in range(50):
            results.append(pf.check_destination("rsync", dst, "/usr/bin/rsync"))

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[]] * 200
    assert not os.path.exists(dst) and os.listdir(str(tmp_path)) == []

"""The source's mount disappears mid-run on the 3-host SSH fleet (issue 25): the run fails,
naming the mount, and nothing is reported verified that is not at the destination. The
namespaces share one mount table, like hosts that all lose a Lustre/NFS mount in a failover."""
from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState

from tests.lab.fleet import Fleet, can_build_fleet
from tests.lab.trees import sample_tree

OK, WHY = can_build_fleet()
pytestmark = [pytest.mark.skipif(not OK, reason="no fleet of namespaces here: " + WHY),
              pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")]


@pytest.fixture
def mounted(tmp_path):
    point = tmp_path / "lustre"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)], check=True)
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def _wait_for_done(shared, run_id, parts, timeout=180):
    done = os.path.join(str(shared), run_id, "state", "done")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.isdir(done) and len(os.listdir(done)) >= parts:
            return
        time.sleep(0.1)
    pytest.fail("no partition was done within %ds" % timeout)


def _unmount_everywhere(fleet, point):
    """Unmount ``point`` on every host. `ip netns exec` gives each host's sshd a mount
    namespace of its own (a copy of this one's), as real hosts each have their own mount of
    the file system: it goes away in each, as in a failover every client sees."""
    spaces = {os.readlink("/proc/self/ns/mnt"): os.getpid()}
    for name in fleet.names:
        for pid in fleet._pids(name):
            try:
                spaces.setdefault(os.readlink("/proc/%d/ns/mnt" % pid), pid)
            except OSError:
                continue
    for pid in spaces.values():
        subprocess.run(["nsenter", "--target", str(pid), "--mount", "umount", "-l", str(point)],
                       check=True)
    return len(spaces)


def test_fleet_run_whose_source_mount_goes_away_fails_naming_it(tmp_path, playbook, mounted):
    src, dst, shared = mounted, tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=600, big_files=0)
    result = {}
    with Fleet(hosts=3) as fleet:
        def run():
            result["run"] = playbook(
                {"datamover_source": str(src), "datamover_destination": str(dst),
                 "datamover_tool": "rsync", "datamover_shared_dir": str(shared),
                 "datamover_watch_interval": 1, "datamover_backoff": 0.2,
                 "datamover_partition_files": 20, "datamover_slots": 1,
                 "datamover_run_id": "mount-gone",
                 # slow enough that the unmount lands while partitions are still to move
                 "datamover_tool_options": ["--bwlimit=40"]},
                inventory=fleet.inventory(str(tmp_path / "workers.ini")))

        thread = threading.Thread(target=run)
        thread.start()
        _wait_for_done(shared, "mount-gone", 1)
        _unmount_everywhere(fleet, src)
        thread.join(600)
    run = result["run"]
    rep = run.report
    assert rep is not None, run.stdout[-4000:]
    assert run.rc != 0 and rep["status"] == "failed", run.stdout[-4000:]
    # the play's failure names the source, the mount it lost, and what to do
    assert "the source %s is no longer the directory that was planned" % src in run.stdout
    assert "tmpfs mounted on %s" % src in run.stdout
    assert "remount it and run the same command again" in run.stdout
    assert rep["vanished"]["count"] == 0, "a gone mount is not files that vanished"
    assert rep["partitions"]["done"] < rep["partitions"]["total"]
    # nothing reported verified that is not at the destination: every entry of a verified
    # partition that is not named as not copied is there, and they add up to the report's count
    rd = RunDir(str(shared), "mount-gone")
    there = 0
    for part in RunState(rd).ids("done") + RunState(rd).ids("failed"):
        res = rd.read_result(part)
        if not res.verified:
            continue
        named = {r["path"] for r in res.not_copied}
        for kind, size, _mtime, rel in rd.read_manifest(part):
            if kind == "d" or os.fsdecode(rel) in named:
                continue
            path = os.path.join(os.fsencode(str(dst)), rel)
            assert os.path.lexists(path), rel
            assert kind == "l" or os.path.getsize(path) == size, rel
            there += 1
    assert rep["verified"]["files"] == there

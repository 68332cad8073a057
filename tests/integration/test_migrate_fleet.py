"""migrate.yml over a fleet of 3 worker hosts (network namespaces, each with its own sshd),
reached by Ansible over real SSH, the shared dir on the common file system."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from tests.lab.fleet import Fleet, can_build_fleet
from tests.lab.seaweed import SeaweedS3, rclone_binary
from tests.lab.trees import checkpoint_tree, diff_trees, hostile_tree, sample_tree

OK, WHY = can_build_fleet()
pytestmark = pytest.mark.skipif(not OK, reason="no fleet of namespaces here: " + WHY)


@pytest.fixture(scope="module")
def fleet():
    with Fleet(hosts=3) as f:
        yield f


def _vars(src, dst, shared, **extra):
    base = {"datamover_source": str(src), "datamover_destination": str(dst),
            "datamover_tool": "rsync", "datamover_shared_dir": str(shared),
            "datamover_watch_interval": 2, "datamover_backoff": 0.2}
    base.update(extra)
    return base


def test_fleet_rsync_spreads_work_and_is_identical(tmp_path, playbook, fleet):
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    files, nbytes = sample_tree(str(src), files=3000, big_files=3, big_mib=4)
    hostile_tree(str(src / "hostile"))
    inv = fleet.inventory(str(tmp_path / "workers.ini"))
    run = playbook(_vars(src, dst, shared, datamover_partition_files=100,
                         datamover_run_id="fleet-rsync"), inventory=inv)
    assert run.rc == 0, run.stdout[-4000:]
    assert diff_trees(src, dst) == []
    rep = run.report
    assert rep["status"] == "succeeded" and rep["partitions"]["failed"] == 0
    busy = [h for h, row in rep["workers"].items() if row["partitions"] > 0]
    assert len(busy) >= 2, rep["workers"]  # work stealing spread the partitions
    assert set(busy) <= set(fleet.names)


@pytest.fixture
def shm_dir():
    """A directory on tmpfs, shared by the namespaces like the rest of the file system: 3 GiB
    of checkpoint and its copy stay in memory, away from this disk's writeback."""
    path = tempfile.mkdtemp(prefix="dm-fleet-ckpt-", dir="/dev/shm")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_fleet_checkpoint_of_a_few_large_files_uses_every_host(tmp_path, shm_dir, playbook, fleet):
    """The seed's workload with the role's defaults (10 GiB datamover_partition_bytes, 2 slots
    per host): 12 x 128 MiB was one partition, moved by one host while two idled. Now every
    host moves some of it, by its own worker's records and by the results, and the copy is
    identical.

    Only the link is slowed (rsync --bwlimit, per stream): tmpfs moves 128 MiB in a tenth of a
    second, and on a busy machine Ansible may start one host's worker seconds after the
    others', when a real link (48 MB/s a stream here: 2.7 s a shard) would still be busy."""
    src, dst = os.path.join(shm_dir, "ckpt"), os.path.join(shm_dir, "dst")
    shared = tmp_path / "shared"
    checkpoint_tree(src, shards=12, mib=128)
    run = playbook(_vars(src, dst, shared, datamover_run_id="fleet-ckpt",
                         datamover_tool_options=["--bwlimit=48M"]),
                   inventory=fleet.inventory(str(tmp_path / "workers.ini")))
    assert run.rc == 0, run.stdout[-4000:]
    assert diff_trees(src, dst) == []
    rep = run.report
    assert rep["status"] == "succeeded" and rep["partitions"]["total"] == 12, rep["partitions"]
    assert sorted(rep["workers"]) == sorted(fleet.names), rep["workers"]
    assert all(row["bytes"] >= 128 << 20 for row in rep["workers"].values()), rep["workers"]
    with open(os.path.join(str(shared), "fleet-ckpt", "run.json")) as handle:
        assert json.load(handle)["partitioning"]["fleet_slots"] == 3 * 2  # hosts x default slots
    for name in fleet.names:  # each worker's own record: it moved and verified data
        with open(os.path.join(str(shared), "fleet-ckpt", "workers", name + ".json")) as handle:
            record = json.load(handle)
        assert record["parts_done"] >= 1 and record["bytes"] >= 128 << 20, record


def test_fleet_rclone_to_s3_on_the_bridge(tmp_path, playbook, fleet):
    src, shared = tmp_path / "src", tmp_path / "shared"
    sample_tree(str(src), files=600, big_files=1, big_mib=2)
    shared.mkdir()
    with SeaweedS3(bucket="fleet", host=fleet.gateway, workdir=str(tmp_path / "weed")) as s3:
        conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
        dest = "dmtest:fleet/run1"
        run = playbook(_vars(src, dest, shared, datamover_tool="rclone",
                             datamover_rclone_config=conf, datamover_partition_files=60,
                             datamover_run_id="fleet-s3"),
                       inventory=fleet.inventory(str(tmp_path / "workers.ini")))
        assert run.rc == 0, run.stdout[-4000:]
        back = tmp_path / "back"
        proc = subprocess.run([rclone_binary(), "--config", conf, "copy", dest, str(back)],
                              capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert diff_trees(src, back, with_dirs=False) == []
    assert len([h for h, r in run.report["workers"].items() if r["partitions"]]) >= 2


def test_fleet_survives_losing_a_host(tmp_path, playbook, fleet):
    """A whole host dies mid-run: its claims go stale and the others finish them."""
    src, dst, shared = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    sample_tree(str(src), files=1200, big_files=0)
    victim = fleet.names[-1]
    result = {}

    def run():
        result["run"] = playbook(
            _vars(src, dst, shared, datamover_partition_files=40, datamover_slots=1,
                  datamover_run_id="lose-host", datamover_lease_seconds=6,
                  datamover_tool_options=["--bwlimit=400"]),
            inventory=fleet.inventory(str(tmp_path / "workers.ini")))

    t = threading.Thread(target=run)
    t.start()
    claimed = os.path.join(str(shared), "lose-host", "state", "claimed")
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.isdir(claimed) and any("~" in n and n.split("@")[1].startswith(victim)
                                          for n in os.listdir(claimed)):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the victim host never claimed a partition")
    fleet.kill_host(victim)
    t.join(600)
    run = result["run"]
    rep = run.report
    assert rep is not None, run.stdout[-4000:]
    assert rep["status"] == "succeeded", run.stdout[-4000:]
    assert run.rc == 0, run.stdout[-4000:]
    assert "worker on %s did not end cleanly: no heartbeat" % victim in run.stdout
    assert diff_trees(src, dst) == []  # no rsync temp file of the killed host left behind
    assert rep["files"] == 1200
    # the survivors took over the victim's partition(s)
    assert sum(r["partitions"] for h, r in rep["workers"].items() if h != victim) >= 1
    # restart the victim's sshd for the next tests in this module
    fleet.stop()
    fleet.start()

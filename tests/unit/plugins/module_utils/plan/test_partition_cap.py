"""The growing byte cap of partitions (partitioner.ByteCap): a tree of a few large files is cut
into enough partitions for every slot of the fleet, a tree of small files is cut by its count
as before, and a resumed plan cuts exactly as the first execution did."""
from __future__ import annotations

import os

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import read_json
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Entry
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    FIRST_BYTES,
    SHARES_PER_SLOT,
    ByteCap,
    PartWriter,
    PlanError,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir

from tests.unit.helpers import new_run, part_ids, part_totals

MIB, GIB = 1 << 20, 1 << 30
DEFAULT_BYTES = 10 * GIB  # the role's datamover_partition_bytes


def _sparse_tree(root, count, size, name="shard-%02d.pt"):
    """``count`` files of ``size`` bytes that take no space (the crawl sees only sizes)."""
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        with open(os.path.join(root, name % i), "wb") as handle:
            handle.truncate(size)
    return root


def _sizes(rundir):
    return [part_totals(rundir, pid) for pid in part_ids(rundir)]


def test_cap_starts_small_and_grows_with_what_was_published():
    cap = ByteCap(DEFAULT_BYTES, fleet_slots=6)
    assert cap.value == FIRST_BYTES
    cap.grow(10 * FIRST_BYTES)  # a share of it would be under the first cap
    assert cap.value == FIRST_BYTES
    cap.grow(240 * GIB)
    assert cap.value == 240 * GIB // (SHARES_PER_SLOT * 6) == 10 * GIB
    cap.grow(10 ** 15)
    assert cap.value == DEFAULT_BYTES  # never over datamover_partition_bytes


def test_cap_is_fixed_for_runs_that_recorded_no_fleet():
    """A run created before the cap grew (no fleet_slots in run.json) resumes cutting as it did."""
    cap = ByteCap(DEFAULT_BYTES, fleet_slots=None)
    assert cap.value == DEFAULT_BYTES
    cap.grow(100 * GIB)
    assert cap.value == DEFAULT_BYTES
    assert ByteCap(MIB, fleet_slots=4).value == MIB  # a smaller user limit wins from the start


def test_checkpoint_of_twelve_large_files_gets_a_partition_each(tmp_path):
    """The seed's workload: 12 x 128 MiB on 3 hosts x 2 slots with the default 10 GiB limit was
    one partition, moved by one host; now each file has its own and every slot has two."""
    src = _sparse_tree(str(tmp_path / "ckpt"), 12, 128 * MIB)
    rundir, result = new_run(tmp_path / "shared", "ckpt", src, str(tmp_path / "dst"),
                             partition_files=2000, partition_bytes=DEFAULT_BYTES, fleet_slots=6)
    assert result["plan"]["parts"] == 12
    assert _sizes(rundir) == [(1, 128 * MIB)] * 12
    assert read_json(rundir.p("run.json"))["partitioning"]["fleet_slots"] == 6


def test_many_medium_files_grow_to_a_share_of_the_tree(tmp_path):
    """200 x 10 MiB (2 GiB) for 2 slots: 64 MiB partitions first, then larger ones, the largest
    about a 1/(4 x 2) share of the tree; fewer partitions than files, more than the slots."""
    src = _sparse_tree(str(tmp_path / "mid"), 200, 10 * MIB, name="f%03d")
    rundir, result = new_run(tmp_path / "shared", "mid", src, str(tmp_path / "dst"),
                             partition_files=2000, partition_bytes=DEFAULT_BYTES, fleet_slots=2)
    sizes = [b for _f, b in _sizes(rundir)]
    assert sum(sizes) == 200 * 10 * MIB
    assert sizes[0] <= FIRST_BYTES
    assert sizes[:-1] == sorted(sizes[:-1])  # grows (the last holds what was left)
    assert max(sizes) <= 200 * 10 * MIB // (SHARES_PER_SLOT * 2)
    assert 2 * SHARES_PER_SLOT <= result["plan"]["parts"] < 200 // 4


def test_small_files_are_still_cut_by_their_count(tmp_path):
    """T1-like partitions (2,000 files of a few KiB) stay far under the first cap: same cut."""
    root = tmp_path / "small"
    for d in range(3):
        _sparse_tree(str(root / ("d%d" % d)), 1000, 4096, name="f%04d")
    rundir, result = new_run(tmp_path / "shared", "small", str(root), str(tmp_path / "dst"),
                             partition_files=2000, partition_bytes=DEFAULT_BYTES, fleet_slots=64)
    assert result["plan"]["parts"] == 2
    assert [f for f, _b in _sizes(rundir)] == [2000, 1000]


def test_the_fpart_engine_cuts_large_files_the_same_way(tmp_path):
    src = _sparse_tree(str(tmp_path / "ckpt"), 12, 128 * MIB)
    rundir, result = new_run(tmp_path / "shared", "ckpt", src, str(tmp_path / "dst"),
                             partition_files=2000, partition_bytes=DEFAULT_BYTES, fleet_slots=6,
                             engine="fpart")
    assert result["plan"]["parts"] == 12


def test_a_resume_with_another_fleet_cuts_as_the_first_execution(tmp_path):
    """fleet_slots is recorded in run.json: a resume from a fleet of another size re-crawls into
    the same partitions (an existing manifest is kept, so a different cut would move files
    twice or never)."""
    src = _sparse_tree(str(tmp_path / "mid"), 60, 10 * MIB, name="f%03d")
    kw = dict(partition_files=2000, partition_bytes=DEFAULT_BYTES)
    rundir, first = new_run(tmp_path / "shared", "r", src, str(tmp_path / "dst"),
                            fleet_slots=1, **kw)
    before = _sizes(rundir)
    os.unlink(rundir.p("plan.json"))  # as if the planner died before the end
    _rundir, again = new_run(tmp_path / "shared", "r", src, str(tmp_path / "dst"),
                             fleet_slots=100, **kw)
    assert again["plan"]["parts"] == first["plan"]["parts"] == len(before)
    assert _sizes(rundir) == before


def test_partwriter_entries_path_grows_too(tmp_path):
    """add() (the fpart engine's and the incremental pass's path) uses the same cap."""
    rundir = RunDir(str(tmp_path / "shared"), "r")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    writer = PartWriter(rundir, 2000, DEFAULT_BYTES, fleet_slots=1)
    for i in range(40):
        writer.add(Entry(b"f%02d" % i, "f", 64 * MIB, 0))
    writer.close()
    files = [f for f, _b in _sizes(rundir)]
    assert files[:SHARES_PER_SLOT] == [1] * SHARES_PER_SLOT  # 64 MiB each until 4 are out
    assert max(files) <= 40 // SHARES_PER_SLOT and len(files) > SHARES_PER_SLOT


def test_a_fleet_of_no_slots_is_refused(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    with pytest.raises(PlanError, match="fleet slots=-2"):
        PartWriter(rundir, 2000, DEFAULT_BYTES, fleet_slots=-2)

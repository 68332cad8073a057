"""What a partition costs an object store, counted on the wire: real rclone, real S3 (SeaweedFS),
requests counted by tests/lab/latency_proxy.py between them."""
from __future__ import annotations

import os
import shutil
import sys

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import (
    RcloneTool,
    _common_dir,
)

from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY
from tests.unit.helpers import write

RCLONE = shutil.which("rclone") or os.path.join(os.path.dirname(sys.executable), "rclone")


def _counted_tool(tmp_path, src, s3, proxy, prefix):
    """An RcloneTool whose remote goes through ``proxy``, and a work directory."""
    conf = str(tmp_path / "rclone.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[counted]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://127.0.0.1:%d\n"
                     "access_key_id = %s\nsecret_access_key = %s\n"
                     % (proxy.port, ACCESS_KEY, SECRET_KEY))
    tool = RcloneTool(os.fsdecode(src), "counted:%s/%s" % (s3.bucket, prefix), binary=RCLONE,
                      config=conf)
    work = str(tmp_path / "work")
    os.makedirs(work)
    return tool, work


def test_common_dir():
    assert _common_dir([b"a/b/c", b"a/b/d/e"]) == b"a/b"
    assert _common_dir([b"a/x", b"b/y"]) == b""
    assert _common_dir([b"top"]) == b""
    assert _common_dir([b"a/b/only"]) == b"a/b"
    assert _common_dir([]) == b""


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
def test_new_small_objects_cost_one_put_each_and_a_listing_per_directory(tmp_path, s3):
    src = os.fsencode(str(tmp_path / "src"))
    for d in (b"x/one", b"x/two"):
        for i in range(20):
            write(os.path.join(src, d, b"f%02d" % i), b"%d" % i * 100)
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    with LatencyProxy(s3.base + 3, delay=0.0) as proxy:
        tool, work = _counted_tool(tmp_path, src, s3, proxy, "requests")
        list_path, _skipped = tool.prepare(entries, work)
        import subprocess
        with open(os.path.join(work, "log"), "wb") as log:
            proxy.reset_counts()
            for argv in tool.commands(list_path, work):
                assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0
            copied = proxy.counts()
            proxy.reset_counts()
            result = tool.verify(entries, list_path, log)
            listed = proxy.counts()
    assert result.mismatches == [] and result.files == 40
    # one PUT per new object: no HEAD before (--no-check-dest), none after (--s3-no-head),
    # none for the bucket (--s3-no-check-bucket) or the root (a trailing "/")
    assert copied == {"PUT": 40}, copied
    # one LIST per directory of the partition, none for their ancestors (x/, the root)
    assert listed == {"LIST": 2}, listed


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
@pytest.mark.parametrize("odd", [b"new\nline", b"bad-\xff"])
def test_per_directory_listing_is_exact_for_odd_names_and_names_a_lost_object(tmp_path, s3, odd):
    """A name JSON cannot carry (not UTF-8) is listed by lsf instead; a control character
    travels as rclone's picture in both. An object lost at the destination is named (after
    the exact lsf listing confirms it)."""
    import subprocess
    src = os.fsencode(str(tmp_path / "src"))
    for d in (b"a", b"b/" + odd):
        for name in (b"plain", odd, b"gone"):
            write(os.path.join(src, d, name), b"z" * 7)
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dest = "dmtest:%s/odd-%d" % (s3.bucket, len(tmp_path.name))
    tool = RcloneTool(os.fsdecode(src), dest + "/" + tmp_path.name, binary=RCLONE, config=conf)
    work = str(tmp_path / "work")
    os.makedirs(work)
    list_path, _skipped = tool.prepare(entries, work)
    with open(os.path.join(work, "log"), "wb") as log:
        for argv in tool.commands(list_path, work):
            assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0
        result = tool.verify(entries, list_path, log)
        assert result.mismatches == [] and result.files == 6
        gone = tool.base_argv() + ["deletefile", dest + "/" + tmp_path.name + "/b/" +
                                   os.fsdecode(tool._dest_name("f", odd)) + "/gone"]
        assert subprocess.run(gone, stdout=log, stderr=log, check=False).returncode == 0
        result = tool.verify(entries, list_path, log)
    assert result.mismatches == [[os.fsdecode(b"b/" + odd + b"/gone"), "missing at destination"]]
    assert result.files == 5


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
def test_a_whole_subtree_is_verified_by_one_flat_listing(tmp_path, s3):
    """Small directories: a partition that holds a whole subtree (its "T" record, from the
    partitioner) lists it in one flat LIST, not one per directory. Missing objects under it
    are still named."""
    import subprocess
    src = os.fsencode(str(tmp_path / "src"))
    for g in range(2):
        for d in range(12):
            for i in range(3):
                write(os.path.join(src, b"g%d/d%02d/f%d" % (g, d, i)), b"%d" % i * 10)
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    with LatencyProxy(s3.base + 3, delay=0.0) as proxy:
        tool, work = _counted_tool(tmp_path, src, s3, proxy, "trees")
        list_path, _skipped = tool.prepare(entries, work, trees=[b"g0", b"g1"])
        with open(os.path.join(work, "log"), "wb") as log:
            for argv in tool.commands(list_path, work):
                assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0
            proxy.reset_counts()
            clean = tool.verify(entries, list_path, log)
            listed = proxy.counts()
            subprocess.run(tool.base_argv() + ["deletefile", "counted:%s/trees/g1/d05/f2"
                                               % s3.bucket], check=True)
            result = tool.verify(entries, list_path, log)
            # a retry (its own list, no trees) lists its own directory again
            list_path, _skipped = tool.prepare([e for e in entries if e[3] == b"g1/d05/f2"], work)
            assert not os.path.exists(list_path + ".trees")
    assert clean.files == 72 and clean.mismatches == []
    assert listed.get("LIST") == 2, listed  # 24 directories, 2 trees: 2 LISTs
    assert result.files == 71 and [m[0] for m in result.mismatches] == ["g1/d05/f2"]


def test_partitions_name_the_subtrees_they_hold_whole(tmp_path):
    """The partitioner's "T" records: g0 and g1 (12 directories of 3 files each) fill
    partitions of 36 entries exactly, each a whole subtree; with smaller partitions no
    group is whole in one of them, and the first partition's directories are trees of one."""
    from tests.unit.helpers import new_run, part_ids
    src = tmp_path / "src"
    for g in range(2):
        for d in range(12):
            for i in range(3):
                write(os.path.join(os.fsencode(str(src)), b"g%d/d%02d/f%d" % (g, d, i)), b"x")
    rundir, _ = new_run(tmp_path / "shared", "a", str(src), str(tmp_path / "dst"),
                        tool="rclone", partition_files=36)
    assert [rundir.read_partition(p)[2] for p in part_ids(rundir)] == [[b"g0"], [b"g1"]]
    rundir, _ = new_run(tmp_path / "shared", "b", str(src), str(tmp_path / "dst"),
                        tool="rclone", partition_files=12)
    trees = [rundir.read_partition(p)[2] for p in part_ids(rundir)]
    assert len(trees) == 6
    assert trees[0] == [b"g0/d00", b"g0/d01", b"g0/d02", b"g0/d03"]
    assert all(b"g0" not in t and b"g1" not in t for t in trees)
    rundir, _ = new_run(tmp_path / "shared", "c", str(src), str(tmp_path / "dst"),
                        tool="rclone", partition_files=1000)
    assert [rundir.read_partition(p)[2] for p in part_ids(rundir)] == [[b""]], \
        "the whole source in one partition: one listing of the destination"

"""What a partition costs an object store, counted on the wire: real rclone, real S3 (SeaweedFS),
requests counted by tests/lab/latency_proxy.py between them."""
from __future__ import annotations

import os
import shutil
import sys

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import (
    RcloneTool,
    _common_dir,
)

from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY
from tests.unit.helpers import write

RCLONE = shutil.which("rclone") or os.path.join(os.path.dirname(sys.executable), "rclone")


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
        conf = str(tmp_path / "rclone.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("[counted]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://127.0.0.1:%d\n"
                         "access_key_id = %s\nsecret_access_key = %s\n"
                         % (proxy.port, ACCESS_KEY, SECRET_KEY))
        tool = RcloneTool(os.fsdecode(src), "counted:%s/requests" % s3.bucket, binary=RCLONE,
                          config=conf)
        work = str(tmp_path / "work")
        os.makedirs(work)
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

"""datamover_verify=checksum on S3: every object's content compared with the source file's from
the verification listing alone (real rclone, real S3 (SeaweedFS), requests counted at
tests/lab/latency_proxy.py), single-part and multipart objects alike."""
from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools import content
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import TRANSIENT
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool

from tests.lab.latency_proxy import LatencyProxy
from tests.unit.helpers import write
from tests.unit.plugins.module_utils.tools.test_rclone_requests import RCLONE, _counted_tool

MIB = 1 << 20
# A 13 MiB file is a multipart object of 3 parts at this layout (rclone's default cutoff is
# 200 MiB: too big for a quick test).
SMALL_LAYOUT = ["--s3-upload-cutoff", "5M", "--s3-chunk-size=5Mi"]


def test_the_source_side_is_the_etag_shape_of_s3_single_and_multipart():
    layout = content.layout_from_options(SMALL_LAYOUT)
    assert layout == {"upload_cutoff": 5 * MIB, "chunk_size": 5 * MIB, "max_upload_parts": 10000}
    assert content.expected_parts(5 * MIB - 1, layout) == (0, 0)
    assert content.expected_parts(5 * MIB, layout) == (5 * MIB, 1)
    assert content.expected_parts(13 * MIB + 5, layout) == (5 * MIB, 3)


def test_the_part_size_grows_for_huge_files_as_rclone_grows_it():
    """fs/chunksize.Calculator: the configured size while the parts fit in max_upload_parts,
    else the smallest whole MiB that fits, one MiB more right on the boundary."""
    layout = dict(content.DEFAULT_LAYOUT)
    assert content.chunk_size(10000 * 5 * MIB, layout) == 5 * MIB
    assert content.chunk_size(10000 * 5 * MIB + 1, layout) == 6 * MIB
    assert content.chunk_size(1 << 40, layout) == 105 * MIB  # 1 TiB / 10,000 = 104.86 MiB
    assert content.chunk_size(10000 * 7 * MIB + 3, layout) == 8 * MIB


@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 5 * MIB, 13 * MIB + 5, 10 * MIB])
def test_file_etag_is_what_an_independent_computation_gives(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    layout = content.layout_from_options(SMALL_LAYOUT)
    if size < 5 * MIB:
        want = hashlib.md5(data).hexdigest()
    else:
        parts = [hashlib.md5(data[i:i + 5 * MIB]).digest() for i in range(0, size, 5 * MIB)]
        want = "%s-%d" % (hashlib.md5(b"".join(parts)).hexdigest(), len(parts))
    assert content.file_etag(str(path), size, layout) == want


def test_sizes_and_listing_bodies_of_both_stores_are_read():
    assert content.parse_size("100") == 100 * 1024  # rclone: a bare number is KiB
    assert content.parse_size("1.5G") == 3 * 512 * MIB
    assert content.parse_size("64MiB") == 64 * MIB
    s3 = ('{"level":"debug","msg":"HTTP/1.1 200 OK\\r\\nContent-Type: application/xml\\r\\n\\r\\n'
          '<?xml version=\\"1.0\\"?><ListBucketResult xmlns=\\"http://s3.amazonaws.com/doc/'
          '2006-03-01/\\"><EncodingType>url</EncodingType><Contents><Key>p/a%20b%0A</Key>'
          '<ETag>&#34;ABCDEF0123456789abcdef0123456789-3&#34;</ETag><Size>1</Size></Contents>'
          '</ListBucketResult>"}')
    oci = ('{"level":"debug","msg":"HTTP/1.1 200 OK\\r\\n\\r\\n{\\"objects\\":[{\\"name\\":'
           '\\"p/x\\",\\"size\\":3,\\"md5\\":\\"rL0Y20zC+Fzt72VPzMSk2A==\\"},{\\"name\\":\\"p/y\\",'
           '\\"size\\":9,\\"md5\\":\\"rL0Y20zC+Fzt72VPzMSk2A==-2\\"}]}"}')
    got = content.hashes_from_dump([s3.encode(), b"not json", oci.encode()])
    assert got == {b"p/a b\n": "abcdef0123456789abcdef0123456789-3",
                   b"p/x": "acbd18db4cc2f85cedef654fccc4a4d8",
                   b"p/y": "acbd18db4cc2f85cedef654fccc4a4d8-2"}


def _tree(tmp_path):
    src = os.fsencode(str(tmp_path / "src"))
    write(os.path.join(src, b"d/small"), os.urandom(1000))
    write(os.path.join(src, b"d/big"), os.urandom(13 * MIB + 5))
    write(os.path.join(src, b"e/other"), b"same" * 10)
    return src, [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]


def _run(tool, list_path, work, log, retry=False):
    for argv in tool.commands(list_path, work, retry=retry):
        assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0


def _replace_out_of_band(tool, src, dest, rel, size):
    """Other bytes of the same size at the destination (rclone rcat, as another tool would)."""
    argv = tool.base_argv() + ["rcat", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M",
                               "--s3-no-check-bucket", "%s/%s" % (dest, rel)]
    subprocess.run(argv, input=os.urandom(size), check=True, capture_output=True)


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
def test_checksum_names_replaced_objects_from_the_listing_alone_and_a_retry_resends(tmp_path, s3):
    src, entries = _tree(tmp_path)
    with LatencyProxy(s3.base + 3, delay=0.0) as proxy:
        tool, work = _counted_tool(tmp_path, src, s3, proxy, "cks")
        tool = RcloneTool(tool.source, tool.destination, options=SMALL_LAYOUT, binary=RCLONE,
                          config=tool.config, verify="checksum")
        size_only = RcloneTool(tool.source, tool.destination, options=SMALL_LAYOUT,
                               binary=RCLONE, config=tool.config)
        list_path, _skipped = tool.prepare(entries, work)
        with open(os.path.join(work, "log"), "wb") as log:
            _run(tool, list_path, work, log)
            proxy.reset_counts()
            clean = tool.verify(entries, list_path, log)
            listed = proxy.counts()
            for rel, size in ((b"d/small", 1000), (b"d/big", 13 * MIB + 5)):
                _replace_out_of_band(tool, src, tool.destination, rel.decode(), size)
            proxy.reset_counts()
            caught = tool.verify(entries, list_path, log)
            listed_again = proxy.counts()
            passed = size_only.verify(entries, list_path, log)
            # the retry moves what failed, and sends it again though size and mtime match
            retry_list, _skipped = tool.prepare([f[0] for f in caught.failed], work)
            _run(tool, retry_list, work, log, retry=True)
            list_path, _skipped = tool.prepare(entries, work)
            after = tool.verify(entries, list_path, log)
    assert clean.mismatches == [] and clean.files == 3 and clean.content_checked == 3
    assert clean.content_fallback == 0
    # the listing alone: one LIST per directory, no HEAD and no GET of any object
    assert listed == {"LIST": 2}, listed
    assert listed_again == {"LIST": 2}, listed_again
    assert sorted(m[0] for m in caught.mismatches) == ["d/big", "d/small"]
    assert all(m[1].startswith("content differs") for m in caught.mismatches)
    assert {f[2] for f in caught.failed} == {TRANSIENT}
    assert "-3" in dict(caught.mismatches)["d/big"]  # the multipart shape, 3 parts
    assert caught.files == 1 and caught.content_checked == 1
    assert passed.mismatches == [] and passed.files == 3  # size verification cannot see it
    assert after.mismatches == [] and after.content_checked == 3


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
def test_an_object_of_another_part_size_is_read_back_and_counted(tmp_path, s3):
    """A multipart object uploaded with other parts (another tool, another layout): its
    ETag cannot be compared, so it is read back (md5sum --download) and said so."""
    src, entries = _tree(tmp_path)
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dest = "dmtest:%s/other-parts" % s3.bucket
    work = str(tmp_path / "work")
    os.makedirs(work)
    uploader = RcloneTool(os.fsdecode(src), dest, binary=RCLONE, config=conf,
                          options=["--s3-upload-cutoff=5M", "--s3-chunk-size=7M"],
                          verify="checksum")
    tool = RcloneTool(os.fsdecode(src), dest, binary=RCLONE, config=conf, options=SMALL_LAYOUT,
                      verify="checksum")
    list_path, _skipped = tool.prepare(entries, work)
    with open(os.path.join(work, "log"), "wb") as log:
        _run(uploader, list_path, work, log)
        result = tool.verify(entries, list_path, log)
    assert result.mismatches == [] and result.content_checked == 3
    assert result.content_fallback == 1  # d/big: 2 parts of 7 MiB, where this run has 3 of 5 MiB

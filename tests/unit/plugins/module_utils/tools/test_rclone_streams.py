"""A slot's streams go to parts of the same file when its partition holds fewer files than
``transfers`` (a checkpoint's shards, one huge file): argv, and the real rclone uploading to
SeaweedFS in that many parallel parts, the object verified whole."""
from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools import find_binary
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool

try:
    RCLONE = find_binary("rclone")
except ToolError:
    RCLONE = None


def _list(tmp_path, files):
    path = tmp_path / "files-from-raw.txt"
    path.write_bytes(b"".join(b"f%d\n" % i for i in range(files)))
    return str(path)


def _streams(argv):
    return int(argv[argv.index("--multi-thread-streams") + 1]) \
        if "--multi-thread-streams" in argv else None


@pytest.mark.parametrize("files, transfers, streams", [
    (1, 8, 8),        # one file: all the slot's streams on its parts
    (2, 16, 8),
    (3, 16, 5),
    (2, 8, None),     # 4 each: rclone's own default, no flag
    (8, 8, None),     # as many files as transfers: one stream each
    (500, 8, None),
    (1, 2, None),     # never fewer than rclone's default
])
def test_streams_per_file_fill_the_slot(tmp_path, files, transfers, streams):
    tool = RcloneTool("/src", "s3:b/p", binary="rclone", transfers=transfers)
    argv = tool.commands(_list(tmp_path, files), str(tmp_path))[0]
    assert _streams(argv) == streams


def test_the_users_streams_win(tmp_path):
    tool = RcloneTool("/src", "s3:b/p", binary="rclone", transfers=8,
                      options=["--multi-thread-streams", "2"])
    argv = tool.commands(_list(tmp_path, 1), str(tmp_path))[0]
    assert argv[-2:] == ["--multi-thread-streams", "2"]  # last: rclone takes the last value


@pytest.mark.skipif(RCLONE is None, reason="rclone is not installed")
def test_a_lone_large_file_is_uploaded_in_parallel_parts_and_verified_whole(tmp_path, s3):
    src = tmp_path / "src"
    src.mkdir()
    with open(str(src / "model.safetensors"), "wb") as handle:
        for _ in range(8):
            handle.write(os.urandom(1 << 20))
            handle.seek(7 << 20, os.SEEK_CUR)  # 64 MiB, real bytes every 8 MiB
        handle.truncate(64 << 20)
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    # the cutoff lowered so that 64 MiB is cut in parts (13 of 5 MiB); -vv: rclone says how
    tool = RcloneTool(str(src), "dmtest:%s/streams" % s3.bucket, binary=RCLONE, config=conf,
                      transfers=8, options=["--multi-thread-cutoff", "16M", "-vv"])
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(os.fsencode(str(src)))]
    work = str(tmp_path / "work")
    os.makedirs(work)
    list_path, _skipped = tool.prepare(entries, work)
    log_path = os.path.join(work, "log")
    with open(log_path, "wb") as log:
        for argv in tool.commands(list_path, work):
            assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0
        result = tool.verify(entries, list_path, log)
    with open(log_path, "rb") as handle:
        text = handle.read()
    assert b"with 8 parallel streams" in text, text[-3000:]
    assert result.mismatches == [] and result.files == 1 and result.bytes == 64 << 20

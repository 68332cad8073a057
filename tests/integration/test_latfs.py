"""bench/latfs (issue 23): the Lustre-like metadata layer `make bench` crawls through. Built
from bench/latfs/latfs.c against libfuse3, it mounts a small tree read-only: the tree reads
back identically through it, every stat pays the configured latency (nothing is cached), and
the mount is gone afterwards, also when the block that used it fails."""
from __future__ import annotations

import errno
import os
import shutil
import time

import pytest

from bench.lustre import LatFS, build_latfs, mounted

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"),
    reason="no /dev/fuse or no fusermount3 on this machine: latfs needs FUSE "
           "(apt-get install fuse3 libfuse3-dev pkg-config; make system-deps)")

DELAY_US = 2000


def _tree(root):
    os.makedirs(os.path.join(root, "a", "b", "c"))
    os.makedirs(os.path.join(root, "empty"))
    for i in range(30):
        with open(os.path.join(root, "a", "f%02d" % i), "wb") as handle:
            handle.write(os.urandom(i * 97))
    with open(os.path.join(root, "a", "b", "big.bin"), "wb") as handle:
        handle.write(os.urandom(3 * 1024 * 1024 + 5))
    open(os.path.join(root, "a", "b", "c", "empty-file"), "wb").close()
    os.symlink("../f01", os.path.join(root, "a", "b", "link"))
    os.chmod(os.path.join(root, "a", "f02"), 0o600)


def _snapshot(root):
    """Every entry: kind, mode, size, mtime, link target or content."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if os.path.islink(path):
                body = os.readlink(path)
            elif os.path.isdir(path):
                body = None
            else:
                with open(path, "rb") as handle:
                    body = handle.read()
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, body)
    return out


@pytest.fixture(scope="module")
def latfs_binary():
    return build_latfs()


def test_a_tree_reads_back_identically_and_every_stat_pays_the_latency(tmp_path, latfs_binary):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    _tree(str(src))
    with LatFS(str(src), str(mnt), DELAY_US, binary=latfs_binary) as fs:
        assert mounted(str(mnt))
        assert _snapshot(str(mnt)) == _snapshot(str(src))
        target = os.path.join(str(mnt), "a", "f03")
        t0 = time.perf_counter()
        for _ in range(100):
            os.lstat(target)
        seconds = time.perf_counter() - t0
        with pytest.raises(OSError) as refused, open(target, "ab"):
            pass
        assert refused.value.errno == errno.EROFS
    # each stat is a lookup per path component and a getattr, each one DELAY_US at least
    assert seconds >= 100 * DELAY_US / 1e6, seconds
    assert not mounted(str(mnt)) and fs.proc.returncode is not None
    assert fs.ops["getattr"] >= 100 and fs.ops["lookup"] >= 200, fs.ops


def test_the_mount_is_gone_after_a_failure_inside_the_block(tmp_path, latfs_binary):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    _tree(str(src))
    with pytest.raises(RuntimeError, match="inside"), LatFS(str(src), str(mnt), 0,
                                                           binary=latfs_binary):
        assert sorted(os.listdir(str(mnt))) == sorted(os.listdir(str(src)))
        raise RuntimeError("inside")
    assert not mounted(str(mnt))

"""POSIX metadata through the object store (issue 13, point 5): lock in what holds today.

A tree of varied modes, owners, mtimes, symlinks and empty directories goes to S3 (SeaweedFS)
through a real run (our rclone argv: --metadata --links), comes back with
``rclone copy --metadata --links``, and every attribute of every file and link is compared.
Directories are not objects: the policy (docs/metadata.md) is that empty directories are not
copied (the report lists them as skipped) and directories' own modes and mtimes do not travel.
And for rsync: directories' modes and mtimes are right after the run, also when a directory's
entries are spread over many partitions and several workers.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import build_report
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.lab.seaweed import rclone_binary
from tests.unit.helpers import new_run, part_ids, write

RSYNC = shutil.which("rsync")
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30}
# (path, mode, uid, gid, mtime_ns)
FILES = [
    (b"a/private", 0o600, 1000, 1000, 1_600_000_000_123_456_789),
    (b"a/shared", 0o664, 1000, 100, 1_700_000_000_000_000_001),
    (b"a/b/script", 0o755, 0, 0, 946_684_800_000_000_000),      # 2000-01-01
    (b"a/b/readonly", 0o444, 65534, 65534, 631_152_000_500_000_000),  # 1990
    (b"a/b/c/setgid", 0o2750, 1001, 1002, 1_800_000_000_999_999_999),  # in 2027
    (b"top", 0o640, 12345, 54321, 1_234_567_890_000_000_000),
    (b"a/\xc3\xa9t\xc3\xa9 name", 0o600, 7, 8, 1_650_000_000_000_000_000),
]
LINKS = [(b"a/rel-link", b"b/script"), (b"a/b/abs-link", b"/etc/hostname"),
         (b"dangling", b"../nowhere")]
EMPTY_DIRS = [b"a/empty", b"a/b/c/empty-too"]


def _make_tree(root):
    root = os.fsencode(str(root))
    for rel, mode, uid, gid, mtime in FILES:
        path = write(os.path.join(root, rel), rel * 3)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))
    for rel, target in LINKS:
        os.symlink(target, os.path.join(root, rel))
    for rel in EMPTY_DIRS:
        os.makedirs(os.path.join(root, rel))
    return os.fsdecode(root)


def _attrs(root, rel):
    st = os.lstat(os.path.join(os.fsencode(root), rel))
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(os.path.join(os.fsencode(root), rel)))
    with open(os.path.join(os.fsencode(root), rel), "rb") as handle:
        data = handle.read()
    return ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, data)


@pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root")
def test_modes_owners_mtimes_and_symlinks_survive_s3_and_back(tmp_path, s3):
    src = _make_tree(tmp_path / "src")
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"), remote="meta")
    dest = "meta:%s/metadata-%s" % (s3.bucket, os.path.basename(str(tmp_path)))
    rundir, _ = new_run(tmp_path / "shared", "meta", src, dest, tool="rclone",
                        partition_files=3, rclone_config=conf)
    result = Worker(rundir, "w1", slots=2, retries=0, rclone_config=conf, **FAST).run()
    assert result["parts_failed"] == 0
    rep = build_report(rundir)
    assert rep["status"] == "succeeded"
    assert sorted(s[0] for s in rep["skipped"]["samples"]) == sorted(
        os.fsdecode(d) for d in EMPTY_DIRS), "empty directories are reported as not copied"
    back = str(tmp_path / "back")
    proc = subprocess.run([rclone_binary(), "--config", conf, "copy", "--metadata", "--links",
                           dest, back], capture_output=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    for rel, mode, _uid, _gid, _mtime in FILES:
        got, want = _attrs(back, rel), _attrs(src, rel)
        if mode & 0o7000:
            # rclone 1.75's local backend reads the mode without setuid/setgid/sticky
            # ("100750" for 2750): those bits do not travel (docs/metadata.md). The day they
            # do, this fails and the document changes.
            assert got[1] == want[1] & 0o777, rel
            got, want = got[:1] + got[2:], want[:1] + want[2:]
        assert got == want, rel
    for rel, _target in LINKS:
        assert _attrs(back, rel) == _attrs(src, rel), rel
    for rel in EMPTY_DIRS:  # the documented policy: not in the bucket, so not back either
        assert not os.path.lexists(os.path.join(os.fsencode(back), rel))


def _dir_attrs(root, rel):
    st = os.lstat(os.path.join(root, rel))
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns


@pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")
def test_rsync_directory_modes_and_mtimes_are_right_after_a_run_over_many_partitions(tmp_path):
    """One directory's 40 files go out in 10 partitions, on 2 workers: each rsync that writes
    into the directory changes its mtime; after the run it is the source's."""
    src = str(tmp_path / "src")
    for d, mode, mtime in ((b"wide", 0o750, 1_500_000_000_000_000_000),
                           (b"wide/deeper", 0o700, 1_400_000_000_000_000_000),
                           (b"other", 0o755, 1_300_000_000_000_000_000)):
        for i in range(40 if d == b"wide" else 8):
            write(os.path.join(os.fsencode(src), d, b"f%02d" % i), b"x" * i)
    for d, mode, mtime in ((b"wide/deeper", 0o700, 1_400_000_000_000_000_000),
                           (b"wide", 0o750, 1_500_000_000_000_000_000),
                           (b"other", 0o755, 1_300_000_000_000_000_000)):
        path = os.path.join(os.fsencode(src), d)
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))
    dst = tmp_path / "dst"
    dst.mkdir()
    rundir, _ = new_run(tmp_path / "shared", "dirs", src, str(dst), partition_files=4)
    assert len(part_ids(rundir)) >= 10
    workers = [threading.Thread(target=Worker(rundir, host, slots=2, retries=1, **FAST).run)
               for host in ("w1", "w2")]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert build_report(rundir)["status"] == "succeeded"
    for rel in ("wide", "wide/deeper", "other"):
        assert _dir_attrs(str(dst), rel) == _dir_attrs(src, rel), rel

"""Never green when the source is not there, never content from outside it (issue 25, points 1
and 2), against the real rsync and the real rclone + SeaweedFS. A wrapper around the real tool
changes the source at the exact moment that matters: after the first transfer (the root
renamed or unmounted while the run goes on), or after the worker's pre-transfer check and
before the tool opens the files (a directory swapped for a symlink to a root-only directory
holding files of the same names and sizes)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import read_json
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import PlanError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
    mount_of,
)
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.lab.seaweed import rclone_binary
from tests.unit.helpers import new_run, part_ids, write, write_script

RSYNC = shutil.which("rsync")
FAST = {"backoff": 0.01, "backoff_max": 0.05, "poll": 0.05, "lease_seconds": 30, "batch": 1}
SECRET = b"root-only secret "
pytestmark = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")


def _tree(root):
    """4 directories of 6 files, and pub/ (5 files) that a user can write into."""
    for d in range(4):
        for i in range(6):
            write(os.path.join(str(root), "d%d" % d, "f%d" % i), b"s" * (100 + i))
    for i in range(5):
        write(os.path.join(str(root), "pub", "f%d" % i), b"p" * (len(SECRET) + i))
    return str(root)


def _outside(tmp_path):
    """A root-only directory with pub/'s names and sizes, other content."""
    out = tmp_path / "root-only"
    for i in range(5):
        write(str(out / ("f%d" % i)), SECRET + b"x" * i)
    os.chmod(str(out), 0o700)
    return str(out)


class _Dest:
    """The destination of one tool, and what is there."""

    def __init__(self, tmp_path, tool, s3):
        self.tool = tool
        if tool == "rsync":
            self.path, self.kw = str(tmp_path / "dst"), {}
            os.makedirs(self.path)
        else:
            self.conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
            self.path = "dmtest:dmtest/%s" % tmp_path.name
            self.kw = {"rclone_config": self.conf}

    def files(self):
        """{relpath: content} of every file (object) at the destination; rsync: symlinks as
        ("link", target)."""
        if self.tool == "rsync":
            out = {}
            for top, dirs, names in os.walk(self.path):
                for name in dirs + names:
                    full = os.path.join(top, name)
                    rel = os.path.relpath(full, self.path)
                    if os.path.islink(full):
                        out[rel] = ("link", os.readlink(full))
                    elif os.path.isfile(full):
                        with open(full, "rb") as handle:
                            out[rel] = handle.read()
            return out
        proc = subprocess.run([rclone_binary(), "--config", self.conf, "lsf", "-R",
                               "--files-only", self.path], capture_output=True, check=True)
        out = {}
        for name in proc.stdout.decode().splitlines():
            got = subprocess.run([rclone_binary(), "--config", self.conf, "cat",
                                  self.path + "/" + name], capture_output=True, check=True)
            out[name] = got.stdout
        return out


def _wrapper(tmp_path, tool, action, when):
    """The real tool behind a script that runs ``action`` (sh) once, at the first transfer:
    ``before`` it (after the worker's checks) or ``after`` it."""
    real = RSYNC if tool == "rsync" else rclone_binary()
    marker = tmp_path / "acted"
    test = ('is_copy=; for a in "$@"; do [ "$a" = copy ] && is_copy=1; done\n'
            if tool == "rclone" else "is_copy=1\n")
    once = 'if [ -n "$is_copy" ] && [ ! -e %s ]; then touch %s; %s; fi\n' % (marker, marker,
                                                                              action)
    if when == "before":
        body = test + once + 'exec %s "$@"' % real
    else:
        body = test + '%s "$@"; rc=$?\n' % real + once + "exit $rc"
    return write_script(tmp_path / ("wrapped-" + tool), body)


def _run(tmp_path, src, dest, wrapper, files, **extra):
    rundir, _ = new_run(tmp_path / "shared", "r", src, dest.path, tool=dest.tool,
                        partition_files=files, **dict(dest.kw, **extra))
    Worker(rundir, "w1", slots=1, retries=1, binary=wrapper,
           rclone_config=dest.kw.get("rclone_config"), **FAST).run()
    return rundir, make_report(rundir)["report"]


def _verified_are_there(rundir, dest):
    """Nothing reported verified is missing at the destination: every file of a partition
    settled as done is there, and the verified count is no more than what is there."""
    there = dest.files()
    for part in RunState(rundir).ids("done"):
        for kind, size, _mtime, rel in rundir.read_manifest(part):
            if kind == "f":
                assert len(there.get(os.fsdecode(rel), b"")) == size, rel
    return there


@pytest.fixture(params=["rsync", "rclone"])
def tool(request):
    return request.param


@pytest.fixture
def dest(tmp_path, tool, request):
    s3 = request.getfixturevalue("s3") if tool == "rclone" else None
    return _Dest(tmp_path, tool, s3)


@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs mounted at tmp_path/mnt (the source of a run that loses its mount)."""
    point = tmp_path / "mnt"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point)], check=True)
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def _assert_failed_naming_the_source(rundir, report, src, cause):
    assert report["status"] == "failed"
    stop = read_json(rundir.p("STOP"))
    assert stop and ("the source %s" % src) in stop["reason"] and cause in stop["reason"], stop
    assert "remount it and run the same command again" in stop["reason"]
    errors = [p["error"] for p in report["failed_partitions"]]
    assert any(("the source %s" % src) in (e or "") for e in errors), errors
    assert report["vanished"]["count"] == 0, "a gone source is not files that vanished"


# --- 1. the source goes away mid-run -------------------------------------------------------
def test_source_root_renamed_mid_run_fails_the_run_and_stops(tmp_path, dest):
    src = _tree(tmp_path / "src")
    wrapper = _wrapper(tmp_path, dest.tool, "mv %s %s.moved" % (src, src), "after")
    rundir, report = _run(tmp_path, src, dest, wrapper, files=6)
    _assert_failed_naming_the_source(rundir, report, src, "cannot be read (No such file")
    assert len(part_ids(rundir)) == 5
    assert RunState(rundir).counts()["done"] <= 1, "no partition moved after the root went"
    _verified_are_there(rundir, dest)
    assert report["verified"]["files"] <= 6


@pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")
def test_source_mount_gone_mid_run_fails_naming_the_mount(tmp_path, dest, tmpfs):
    src = _tree(tmpfs)
    wrapper = _wrapper(tmp_path, dest.tool, "umount -l %s" % src, "after")
    rundir, report = _run(tmp_path, src, dest, wrapper, files=6)
    # the empty mount point shows through: another directory, another file system
    _assert_failed_naming_the_source(rundir, report, src, "tmpfs mounted on %s" % src)
    planned = rundir.source_identity()
    assert planned["fstype"] == "tmpfs" and planned["mount"] == src
    _verified_are_there(rundir, dest)


def test_source_root_replaced_by_an_empty_directory(tmp_path, dest):
    src = _tree(tmp_path / "src")
    wrapper = _wrapper(tmp_path, dest.tool, "mv %s %s.old; mkdir %s" % (src, src, src), "after")
    rundir, report = _run(tmp_path, src, dest, wrapper, files=6)
    _assert_failed_naming_the_source(rundir, report, src,
                                     "is no longer the directory that was planned")
    _verified_are_there(rundir, dest)


@pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")
def test_incremental_pass_over_an_empty_mount_point_fails(tmp_path, tmpfs):
    src, dst = _tree(tmpfs), tmp_path / "dst"
    dst.mkdir()
    first, _ = new_run(tmp_path / "shared", "full", src, str(dst), partition_files=100)
    assert Worker(first, "w1", slots=1, **FAST).run()["parts_done"] == 1
    subprocess.run(["umount", str(tmpfs)], check=True)
    with pytest.raises(PlanError) as err:
        new_run(tmp_path / "shared", "inc", src, str(dst), since="full")
    msg = str(err.value)
    assert "the source %s is no longer the directory datamover_since=full planned from" % src \
        in msg and "tmpfs mounted on %s" % src in msg, msg
    # a previous run from before source.json: the empty source alone is refused
    os.unlink(first.p("source.json"))
    with pytest.raises(PlanError) as err:
        new_run(tmp_path / "shared", "inc2", src, str(dst), since="full")
    assert "the source %s is empty, and datamover_since=full planned 29 files" % src \
        in str(err.value)
    assert len(os.listdir(str(dst))) == 5, "nothing deleted at the destination"


def test_too_many_vanished_files_fail_the_partition_unless_tolerated(tmp_path):
    src = _tree(tmp_path / "src")
    dest = _Dest(tmp_path, "rsync", None)
    wrapper = _wrapper(tmp_path, "rsync", "rm -r %s/d1" % src, "before")
    rundir, report = _run(tmp_path, src, dest, wrapper, files=12)
    assert report["status"] == "failed" and report["vanished"]["count"] == 6
    errors = [p["error"] for p in report["failed_partitions"]]
    assert errors == ["6 of its 12 files vanished from the source during the run (more than "
                      "10%): a directory removed or renamed while the run went on? Check the "
                      "source; to accept it, run again with -e '{\"datamover_tolerate\": "
                      "[\"vanished\"]}'"]
    # the same command with the class tolerated settles it
    rundir, _ = new_run(tmp_path / "shared", "r", src, dest.path, partition_files=12,
                        tolerate=["vanished"])
    Worker(rundir, "w1", slots=1, binary=RSYNC, **FAST).run()
    assert make_report(rundir)["report"]["status"] == "succeeded"


# --- 2. a directory swapped for a symlink -----------------------------------------------------
@pytest.mark.parametrize("when", ["before the check", "after the check"])
def test_directory_swapped_for_a_symlink_moves_nothing_from_outside(tmp_path, dest, when):
    src = _tree(tmp_path / "src")
    outside = _outside(tmp_path)
    swap = "mv %s/pub %s/pub.old && ln -s %s %s/pub" % (src, src, outside, src)
    rundir, _ = new_run(tmp_path / "shared", "r", src, dest.path, tool=dest.tool,
                        partition_files=100, **dest.kw)
    if when == "before the check":  # between the crawl and the transfer
        subprocess.run(["sh", "-c", swap], check=True)
        wrapper = RSYNC if dest.tool == "rsync" else rclone_binary()
    else:  # after the worker's check, before the tool opens the files
        wrapper = _wrapper(tmp_path, dest.tool, swap, "before")
    Worker(rundir, "w1", slots=1, retries=1, binary=wrapper,
           rclone_config=dest.kw.get("rclone_config"), **FAST).run()
    report = make_report(rundir)["report"]
    there = _verified_are_there(rundir, dest)
    assert not any(isinstance(v, bytes) and SECRET in v for v in there.values()), \
        "content from outside the source at the destination"
    assert not any(k == "pub" or k.startswith("pub/") for k in there), sorted(there)
    assert report["status"] == "failed"
    assert report["verified"]["files"] == 24, "only the files of the unchanged directories"
    with open(rundir.not_copied_path()) as handle:
        lost = {r["path"]: r for r in map(json.loads, handle)}
    assert sorted(lost) == ["pub/f%d" % i for i in range(5)]
    for rec in lost.values():
        assert "the directory pub became a symlink to %s after it was planned; its files were " \
               "not copied" % outside in rec["reason"], rec
        assert rec["class"] == "deterministic"


def test_rsync_verification_does_not_follow_a_destination_symlink(tmp_path):
    """A symlink in the destination where the plan has a directory is not looked through."""
    from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool
    src = _tree(tmp_path / "src")
    outside = _outside(tmp_path)
    dst = tmp_path / "dst"
    dst.mkdir()
    os.symlink(outside, str(dst / "pub"))
    tool = RsyncTool(src, str(dst))
    entries = [("f", len(SECRET) + i, os.lstat(os.path.join(src, "pub", "f%d" % i)).st_mtime_ns,
                b"pub/f%d" % i) for i in range(5)]
    for i in range(5):  # the files behind the link: right names, sizes and mtimes
        os.utime(os.path.join(outside, "f%d" % i), ns=(entries[i][2], entries[i][2]))
    result = tool.verify(entries)
    assert result.files == 0 and len(result.failed) == 5
    assert result.failed[0][1] == "pub is a symlink at the destination"


def test_mountinfo_names_the_deepest_mount_of_the_device(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n"
                    "40 22 0:45 / /mnt/lustre\\040data rw - lustre 10.0.0.1@tcp:/fs rw\n"
                    "41 40 0:45 /sub /mnt/lustre\\040data/sub rw - lustre 10.0.0.1@tcp:/fs rw\n")
    dev = os.makedev(0, 45)
    assert mount_of("/mnt/lustre data/sub/x", dev, str(info)) == (
        "/mnt/lustre data/sub", "lustre")
    assert mount_of("/mnt/lustre data/y", dev, str(info)) == ("/mnt/lustre data", "lustre")
    assert mount_of("/elsewhere", dev, str(info)) == (None, None)


def test_a_bind_mount_of_the_same_directory_is_the_same_source():
    """A pod or container on the planning node sees the source through a bind mount: same
    device and inode, another mount point (the fake Kubernetes pods do exactly this)."""
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
        identity_problem,
    )
    planned = {"path": "/data/src", "host": "a", "dev_num": 65024, "dev": "254:0", "ino": 9,
               "mount": "/", "fstype": "ext4"}
    assert identity_problem(planned, dict(planned, mount="/data/src")) is None
    assert identity_problem(planned, dict(planned, mount="/data/src", ino=10)) is not None


def test_identity_compares_the_device_on_the_planning_host_only():
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
        identity_problem,
    )
    planned = {"path": "/lustre/p", "host": "a", "dev_num": 45, "dev": "0:45", "ino": 7,
               "mount": "/lustre", "fstype": "nfs4"}
    # another host: its own device number and mount point for the same export, nfs not nfs4
    assert identity_problem(planned, dict(planned, host="b", dev_num=12, mount="/mnt/l",
                                          fstype="nfs")) is None
    # the planning host after a remount under another device number: the resume check
    # ignores the device (planning.record_source); a worker does not
    assert identity_problem(dict(planned, dev_num=None), dict(planned, dev_num=50)) is None
    assert "device 0:45 inode 7" in identity_problem(planned, dict(planned, dev_num=50))
    # anywhere: another inode or another type of file system is another directory
    for other in ({"ino": 2}, {"fstype": "ext4", "mount": "/"}):
        msg = identity_problem(planned, dict(planned, host="b", **other))
        assert msg.startswith("the source /lustre/p is no longer the directory that was "
                              "planned (device 0:45 inode 7, nfs4 mounted on /lustre; now")


def test_a_removal_that_fails_is_said_and_fails_the_run(tmp_path, s3):
    """rclone uploaded the swapped directory's outside content and then cannot delete it: the
    files are named with the removal's failure and what to do, never counted verified."""
    src = _tree(tmp_path / "src")
    outside = _outside(tmp_path)
    dest = _Dest(tmp_path, "rclone", s3)
    marker = tmp_path / "swapped"
    wrapper = write_script(tmp_path / "rclone-no-delete", (
        'for a in "$@"; do\n'
        '  [ "$a" = delete ] && { echo "delete refused by the test" >&2; exit 1; }\n'
        '  if [ "$a" = copy ] && [ ! -e %s ]; then touch %s; mv %s/pub %s/pub.old; '
        'ln -s %s %s/pub; fi\n'
        'done\nexec %s "$@"' % (marker, marker, src, src, outside, src, rclone_binary())))
    rundir, report = _run(tmp_path, src, dest, wrapper, files=100)
    assert report["status"] == "failed" and report["verified"]["files"] == 24
    with open(rundir.not_copied_path()) as handle:
        reasons = [r["reason"] for r in map(json.loads, handle)]
    assert len(reasons) == 5 and all(
        "became a symlink to %s" % outside in r and "removing what arrived of them from the "
        "destination FAILED" in r and "remove it by hand" in r for r in reasons), reasons

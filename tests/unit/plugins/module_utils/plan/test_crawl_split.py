"""crawl_split: the root's second half walked by a forked child gives the same scans, in the
same order, with the same errors, as one process."""
from __future__ import annotations

import os

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan import crawl_split
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl_split import split_crawl

from tests.unit.helpers import write


def _walk(crawl):
    out = [(s.rel, list(s.records), list(s.sizes), s.whole) for s in crawl.scans()]
    return out, (crawl.errors_count, sorted(crawl.errors), crawl.skipped_count,
                 sorted(crawl.skipped))


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    for top in ("a", "b", "c", "d", "e"):
        for sub in ("x", "y"):
            for i in range(3):
                write(src / top / sub / ("f%d" % i), b"x" * i)
    for i in range(30):  # one directory larger than the test's sort limit: streamed
        write(src / "d" / "big" / ("n%02d" % i), b"n")
    write(src / "top", b"t")
    os.makedirs(str(src / "e" / "empty"))
    os.mkfifo(str(src / "e" / "fifo"))  # skipped: a special file
    os.makedirs(str(src / "e" / "closed"))
    os.symlink("top", str(src / "e" / "link"))
    write(src / "b" / "skip.tmp", b"excluded")
    return src


@pytest.mark.parametrize("attrs", [False, True])
def test_same_scans_in_the_same_order(tmp_path, tree, attrs):
    os.chmod(str(tree / "e" / "closed"), 0)
    try:
        kw = dict(excludes=["*.tmp"], attrs=attrs, sort_limit=10, threads=1)
        plain = _walk(Crawl(str(tree), **kw))
        split = split_crawl(str(tree), tmpdir=str(tmp_path), **kw)
        got = _walk(split)
    finally:
        os.chmod(str(tree / "e" / "closed"), 0o755)
    assert got == plain
    assert split.split.pid is None and split.split.out is None, "child reaped, file closed"
    if os.geteuid() != 0:
        assert plain[1][0] == 1, "the unreadable directory, in the child's half"
    assert plain[1][2] == 1, "the fifo, in the child's half"
    assert os.listdir(str(tmp_path)) == ["src"], "the child's file was never visible"


def test_a_root_with_one_subdirectory_is_not_split(tmp_path):
    write(tmp_path / "src" / "only" / "f", b"x")
    crawl = split_crawl(str(tmp_path / "src"))
    assert [s.rel for s in crawl.scans()] == [b"only"]
    assert crawl.split.out is None, "no child for a single subdirectory"


def test_a_failing_child_fails_the_crawl(tmp_path, tree, monkeypatch):
    def broken(parent, roots):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(crawl_split, "_child_crawl", broken)
    with pytest.raises(OSError, match="disk on fire"):
        list(split_crawl(str(tree), tmpdir=str(tmp_path)).scans())


def test_a_child_that_dies_fails_the_crawl(tmp_path, tree, monkeypatch):
    monkeypatch.setattr(crawl_split, "_child", lambda parent, roots, fd: os._exit(3))
    with pytest.raises(OSError, match="ended without its result"):
        list(split_crawl(str(tree), tmpdir=str(tmp_path)).scans())


def test_an_abandoned_crawl_kills_its_child(tmp_path, tree, monkeypatch):
    import time
    monkeypatch.setattr(crawl_split, "_child", lambda parent, roots, fd: time.sleep(60))
    crawl = split_crawl(str(tree), tmpdir=str(tmp_path))
    scans = crawl.scans()
    next(scans)
    next(scans)
    pid = crawl.split.pid
    assert pid
    scans.close()
    assert crawl.split.pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)

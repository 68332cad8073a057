"""crawl.Crawl: order, excludes, kinds, errors, huge directories, names as bytes, memory."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import tempfile
import tracemalloc

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import (
    KIND_DIR,
    KIND_FILE,
    KIND_LINK,
    Crawl,
    Excluder,
)

from tests.unit.helpers import write


def _paths(crawl):
    return [e.path for e in crawl]


@pytest.fixture
def tree(tmp_path):
    """A small mixed tree, created in an order unrelated to byte order."""
    root = tmp_path / "src"
    for rel in [b"zeta/z2", b"zeta/z1", b"b.txt", b"a.txt", b"B-upper", b"alpha/beta/gamma/deep",
                b"alpha/beta/x", b"alpha/a0", b"alpha/beta2/y", b"m/n/o/p/q", b"_under",
                b"alpha/beta/gamma/\xc3\xa9t\xc3\xa9"]:
        write(os.path.join(os.fsencode(str(root)), rel), b"x" * len(rel))
    os.makedirs(root / "empty")
    os.makedirs(root / "onlysub" / "leaf-empty")
    os.symlink("a.txt", root / "link-a")
    return root


def _expected_dfs(root, rel=b""):
    """Reference: files of a directory in byte order, its 'd' marker when empty, then its
    subdirectories in byte order, depth first."""
    full = os.path.join(os.fsencode(str(root)), rel) if rel else os.fsencode(str(root))
    names = sorted(os.listdir(full))
    out, subdirs = [], []
    for name in names:
        child = rel + b"/" + name if rel else name
        if stat.S_ISDIR(os.lstat(os.path.join(full, name)).st_mode):
            subdirs.append(child)
        else:
            out.append(child)
    if not names and rel:
        out.append(rel)
    for sub in subdirs:
        out.extend(_expected_dfs(root, sub))
    return out


def test_sorted_dfs_order(tree):
    assert _paths(Crawl(str(tree))) == _expected_dfs(tree)


def test_deterministic_across_runs_threads_and_lookahead(tree):
    # a wider tree so the look-ahead really runs ahead of the consumer
    for i in range(40):
        write(os.path.join(str(tree), "wide", "d%02d" % ((i * 7) % 40), "f%d" % i), b"w")
    reference = list(Crawl(str(tree)))
    assert reference == list(Crawl(str(tree)))
    for threads, lookahead in [(1, 1), (2, 3), (16, 100), (8, 32)]:
        assert list(Crawl(str(tree), threads=threads, lookahead=lookahead)) == reference
    assert [e.path for e in reference] == _expected_dfs(tree)


def test_entries_carry_lstat_size_and_mtime(tree):
    entries = {e.path: e for e in Crawl(str(tree))}
    st = os.lstat(tree / "a.txt")
    assert entries[b"a.txt"].kind == KIND_FILE
    assert entries[b"a.txt"].size == st.st_size == 5
    assert entries[b"a.txt"].mtime_ns == st.st_mtime_ns


def test_empty_directories_yield_dir_entries(tree):
    entries = {e.path: e for e in Crawl(str(tree))}
    assert entries[b"empty"].kind == KIND_DIR
    assert entries[b"empty"].size == 0
    assert entries[b"onlysub/leaf-empty"].kind == KIND_DIR
    # a directory holding only a subdirectory is not "empty": no marker of its own
    assert b"onlysub" not in entries
    dirs = sorted(p for p, e in entries.items() if e.kind == KIND_DIR)
    assert dirs == [b"empty", b"onlysub/leaf-empty"]


def test_empty_root_yields_nothing(tmp_path):
    crawl = Crawl(str(tmp_path))
    assert list(crawl) == []
    assert crawl.errors == [] and crawl.skipped == []


def test_symlinks_are_entries_and_not_followed(tmp_path):
    root = tmp_path / "src"
    write(str(tmp_path / "outside" / "secret"), b"s")
    write(str(root / "real" / "f"), b"f")
    os.symlink(str(tmp_path / "outside"), root / "dirlink")
    os.symlink("real", root / "rellink")
    os.symlink("../nowhere", root / "dangling")
    entries = {e.path: e for e in Crawl(str(root))}
    assert set(entries) == {b"dangling", b"dirlink", b"real/f", b"rellink"}
    for name in (b"dangling", b"dirlink", b"rellink"):
        assert entries[name].kind == KIND_LINK
    assert entries[b"rellink"].size == len("real")  # lstat size: the target's length


def test_special_files_skipped_and_counted(tmp_path):
    root = tmp_path / "src"
    write(str(root / "sub" / "regular"), b"r")
    os.mkfifo(root / "sub" / "a-fifo")
    os.mkfifo(root / "top-fifo")
    crawl = Crawl(str(root))
    paths = _paths(crawl)
    assert paths == [b"sub/regular"]
    assert crawl.skipped_count == 2
    assert sorted(p for p, _ in crawl.skipped) == [b"sub/a-fifo", b"top-fifo"]
    assert all("special file" in why for _, why in crawl.skipped)
    assert crawl.errors_count == 0


# --- excludes -------------------------------------------------------------------------------

def test_exclude_name_pattern_at_any_depth(tree):
    write(os.path.join(str(tree), "alpha", "beta", "gamma", "junk.tmp"), b"j")
    write(os.path.join(str(tree), "top.tmp"), b"j")
    paths = _paths(Crawl(str(tree), excludes=["*.tmp"]))
    assert not any(p.endswith(b".tmp") for p in paths)
    assert b"alpha/beta/gamma/deep" in paths


def test_exclude_path_pattern_only_matches_that_path(tree):
    write(os.path.join(str(tree), "other", "beta", "x"), b"k")
    paths = _paths(Crawl(str(tree), excludes=["alpha/beta/x"]))
    assert b"alpha/beta/x" not in paths
    assert b"other/beta/x" in paths
    assert b"alpha/beta/gamma/deep" in paths


def test_exclude_directory_prunes_subtree(tree):
    paths = _paths(Crawl(str(tree), excludes=["beta"]))
    assert not any(b"/beta/" in p or p.endswith(b"/beta") for p in paths)
    assert b"alpha/a0" in paths and b"alpha/beta2/y" in paths


def test_exclude_trailing_slash_is_directories_only(tmp_path):
    root = tmp_path / "src"
    write(str(root / "cache" / "in-dir"), b"1")
    write(str(root / "deep" / "cache" / "in-deep-dir"), b"2")
    write(str(root / "deep" / "cache-file" / "cache"), b"3")  # a FILE named cache
    write(str(root / "build" / "out"), b"4")
    paths = _paths(Crawl(str(root), excludes=["cache/", "deep/cache-file/"]))
    assert b"cache/in-dir" not in paths
    assert b"deep/cache/in-deep-dir" not in paths
    assert b"build/out" in paths
    assert b"deep/cache-file/cache" not in paths  # pruned by the directory path pattern
    paths = _paths(Crawl(str(root), excludes=["cache/"]))
    assert b"deep/cache-file/cache" in paths  # a file is not matched by a dir-only pattern


def test_excluder_unit():
    ex = Excluder(["*.o", "a/b/*", "tmp/", "/abs/path"])
    assert ex.excluded(b"x/y/z.o", b"z.o", False)
    assert ex.excluded(b"a/b/c", b"c", False)
    assert not ex.excluded(b"z/a/b/c", b"c", False)
    assert ex.excluded(b"q/tmp", b"tmp", True)
    assert not ex.excluded(b"q/tmp", b"tmp", False)
    assert ex.excluded(b"abs/path", b"path", False)
    assert not Excluder([])
    assert Excluder(["x"])


# --- names -----------------------------------------------------------------------------------

def test_non_utf8_and_newline_names_come_through_as_bytes(tmp_path):
    root = os.fsencode(str(tmp_path / "src"))
    names = [b"new\nline", b"tab\tname", b"bad-\xff\xfe", b"latin1-caf\xe9", b"-dash", b" space "]
    for name in names:
        write(os.path.join(root, b"d\nir", name), name)
    entries = list(Crawl(root))
    assert all(isinstance(e.path, bytes) for e in entries)
    assert sorted(e.path for e in entries) == sorted(b"d\nir/" + n for n in names)
    # a str root gives the same bytes
    assert list(Crawl(os.fsdecode(root))) == entries


# --- errors ----------------------------------------------------------------------------------

def _crawl_in_child(root, conn, uid):
    try:
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        crawl = Crawl(root)
        paths = _paths(crawl)
        conn.send(("ok", paths, crawl.errors, crawl.errors_count))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        conn.send(("error", repr(exc), None, None))
    finally:
        conn.close()


def _crawl_unprivileged(root):
    """Crawl as a user that permissions apply to (nobody, when the tests run as root)."""
    uid = 65534 if os.geteuid() == 0 else None
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_crawl_in_child, args=(root, child, uid))
    proc.start()
    child.close()
    if not parent.poll(30):
        proc.kill()
        pytest.fail("crawl in the child process did not answer")
    msg = parent.recv()
    proc.join(10)
    if msg[0] != "ok":
        pytest.skip("cannot crawl as an unprivileged user here: %s" % msg[1])
    return msg[1], msg[2], msg[3]


def test_unreadable_directory_is_an_error_and_the_crawl_goes_on():
    # tmp_path lives under a 0700 directory; "nobody" must be able to reach the tree.
    base = tempfile.mkdtemp(prefix="dm-unit-perm-")
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "src")
        write(os.path.join(root, "a", "ok"), b"1")
        write(os.path.join(root, "locked", "secret"), b"2")
        write(os.path.join(root, "z"), b"3")
        os.chmod(os.path.join(root, "locked"), 0)
        for d in (root, os.path.join(root, "a")):
            os.chmod(d, 0o755)
        for f in ("a/ok", "z"):
            os.chmod(os.path.join(root, f), 0o644)
        paths, errors, count = _crawl_unprivileged(root)
        assert paths == [b"z", b"a/ok"]
        assert count == 1
        assert errors[0][0] == b"locked"
        assert "ermission" in errors[0][1]
    finally:
        os.chmod(os.path.join(base, "src", "locked"), 0o755)
        shutil.rmtree(base)


def test_missing_root_raises(tmp_path):
    """An unmounted source is an error, never an empty tree that "succeeds"."""
    crawl = Crawl(str(tmp_path / "nope"))
    with pytest.raises(OSError, match="cannot list the source"):
        list(crawl)


# --- huge directories ------------------------------------------------------------------------

def test_huge_directory_streams_every_entry_once(tmp_path):
    root = tmp_path / "src"
    expected = set()
    for i in range(100):
        write(str(root / ("f%03d" % i)), b"x")
        expected.add(b"f%03d" % i)
    for i in range(5):
        write(str(root / ("sub%d" % i) / "inner"), b"y")
        expected.add(b"sub%d/inner" % i)
    os.makedirs(root / "zz-empty")
    expected.add(b"zz-empty")
    os.mkfifo(root / "fifo")
    crawl = Crawl(str(root), sort_limit=10)
    paths = _paths(crawl)
    assert len(paths) == len(set(paths)), "an entry came out twice"
    assert set(paths) == expected
    assert crawl.skipped_count == 1
    # subdirectories are still visited after the directory's files, in byte order
    subs = [p for p in paths if b"/" in p or p == b"zz-empty"]
    assert subs == sorted(subs)
    assert paths[-len(subs):] == subs
    # an unchanged huge directory streams in the same order again
    assert _paths(Crawl(str(root), sort_limit=10)) == paths


def test_huge_directory_nested(tmp_path):
    root = tmp_path / "src"
    for d in range(3):
        for i in range(30):
            write(str(root / ("d%d" % d) / ("f%02d" % i)), b"x")
    paths = _paths(Crawl(str(root), sort_limit=7, threads=3, lookahead=2))
    assert len(paths) == 90 == len(set(paths))
    # DFS: all of d0 before d1 before d2
    assert [p.split(b"/")[0] for p in paths] == [b"d0"] * 30 + [b"d1"] * 30 + [b"d2"] * 30


# --- memory ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide_tree(tmp_path_factory):
    root = os.fsencode(str(tmp_path_factory.mktemp("wide")))
    for d in range(400):
        dpath = os.path.join(root, b"dir%04d" % d)
        os.mkdir(dpath)
        for f in range(50):
            os.close(os.open(os.path.join(dpath, b"file-%04d-with-a-longish-name" % f),
                             os.O_CREAT | os.O_WRONLY, 0o644))
    return root


def test_crawl_streams_with_bounded_memory(wide_tree):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        held = list(Crawl(wide_tree))
        held_peak = tracemalloc.get_traced_memory()[1] - base
        assert len(held) == 20000
        del held

        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        count = 0
        for _entry in Crawl(wide_tree):
            count += 1
        stream_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert count == 20000
    assert stream_peak < held_peak / 4, (
        "streaming crawl peaked at %d bytes, holding every entry costs %d" % (stream_peak,
                                                                              held_peak))


def test_lookahead_needs_a_streak_of_slow_directories(tree):
    """One slow directory (this thread lost the CPU on a busy host) does not turn the
    threads on; SLOW_STREAK slow ones in a row (a latency-bound file system) do."""
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import DirScan
    crawl = Crawl(str(tree), slow_entry_us=20.0)

    def scan(us_per_entry, entries=10):
        out = DirScan(b"d")
        out.records = [b"r"] * entries
        out.seconds = us_per_entry * entries / 1e6
        return out

    verdicts = [crawl._slow(scan(us)) for us in (500, 2, 500, 500, 500, 500, 3, 500)]
    assert verdicts == [False] * 8
    crawl = Crawl(str(tree), slow_entry_us=20.0)
    verdicts = [crawl._slow(scan(500)) for _ in range(Crawl.SLOW_STREAK)]
    assert verdicts == [False] * (Crawl.SLOW_STREAK - 1) + [True]
    assert Crawl(str(tree), slow_entry_us=0)._slow(scan(1)), "0 means threads from the start"

"""incremental + mirror: an incremental run plans exactly what changed, finds deletions from the
manifests, chains, and the mirror deletes only behind its guards."""
from __future__ import annotations

import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.plan.incremental import (
    Diff,
    ManifestOrderError,
    PrevStream,
    dir_groups,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import iter_records
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState, make_token

from tests.unit.helpers import new_run, part_ids, read_list, write


def settle(rundir, state="done", only=None):
    """Mark partitions done (or failed) as a worker would."""
    rs = RunState(rundir)
    for part in part_ids(rundir):
        if only is not None and part not in only:
            continue
        lease = rs.claim(part, make_token("t", 0))
        if lease is not None:
            (rs.finish if state == "done" else rs.fail)(lease)


def planned(rundir):
    return sorted(p for part in part_ids(rundir) for p in read_list(rundir, part))


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    for d in ("a", "a/deep", "b", "c", "c.d", "gone/sub"):
        for i in range(4):
            write(src / d / ("f%d" % i), b"x" * (i + 1))
    write(src / "top.txt", b"top")
    os.symlink("top.txt", str(src / "link"))
    os.makedirs(str(src / "empty"))
    return src


def full_then(tmp_path, tree, tool="rsync", **kw):
    dst = tmp_path / "dst"
    shared = tmp_path / "shared"
    first, _ = new_run(shared, "full", tree, dst, tool=tool)
    settle(first)
    return shared, dst


def change(tree):
    os.utime(str(tree / "a" / "f1"), ns=(1, 10 ** 18))              # mtime
    write(tree / "b" / "f2", b"longer content")                      # size
    write(tree / "a" / "deep" / "new", b"n")                         # new file
    write(tree / "fresh" / "x", b"x")                                # new directory
    os.unlink(str(tree / "c" / "f0"))                                # deleted file
    os.rename(str(tree / "gone"), str(tree / "moved"))               # renamed directory


CHANGED = sorted([b"a/f1", b"b/f2", b"a/deep/new", b"fresh/x"]
                 + [b"moved/sub/f%d" % i for i in range(4)])
DELETED = sorted([b"c/f0"] + [b"gone/sub/f%d" % i for i in range(4)])


def test_unchanged_tree_plans_nothing(tmp_path, tree):
    shared, dst = full_then(tmp_path, tree)
    rd, res = new_run(shared, "inc", tree, dst, since="full")
    inc = res["plan"]["incremental"]
    assert res["plan"]["parts"] == 0 and planned(rd) == []
    assert inc["new"] == inc["changed"] == inc["deleted"] == 0
    assert inc["unchanged"] == inc["previous"] == 4 * 6 + 3
    assert os.path.getsize(rd.deletions_path()) == 0


def test_incremental_plans_exactly_the_changes(tmp_path, tree):
    shared, dst = full_then(tmp_path, tree)
    change(tree)
    rd, res = new_run(shared, "inc", tree, dst, since="full")
    inc = res["plan"]["incremental"]
    assert planned(rd) == CHANGED
    assert inc["changed"] == 2 and inc["new"] == 6 and inc["deleted"] == 5
    assert sorted(r.partition(b"\t")[2] for r in iter_records([rd.deletions_path()])) == DELETED
    assert inc["renamed_dir_samples"] == [["gone/sub", "moved/sub"]]
    assert inc["mirror"]["requested"] is False and inc["mirror"]["would_delete"] == 5
    assert res["plan"]["files"] == len(CHANGED)
    # the complete manifest describes the whole source: the next pass chains from it
    settle(rd)
    rd2, res2 = new_run(shared, "inc2", tree, dst, since="inc")
    # deletions only reported are still at the destination: still listed
    assert planned(rd2) == [] and res2["plan"]["incremental"]["deleted"] == 5
    write(tree / "c" / "f1", b"changed again")
    rd3, res3 = new_run(shared, "inc3", tree, dst, since="inc2")
    assert planned(rd3) == [b"c/f1"]


def test_mode_and_owner_changes_count_for_rsync_only(tmp_path, tree):
    shared, dst = full_then(tmp_path, tree)
    rd, _ = new_run(shared, "inc", tree, dst, since="full")
    settle(rd)
    os.chmod(str(tree / "a" / "f0"), 0o600)
    os.chown(str(tree / "a" / "f2"), 1234, 1234)
    rd2, _ = new_run(shared, "inc2", tree, dst, since="inc")
    assert planned(rd2) == [b"a/f0", b"a/f2"]


def test_entries_of_unfinished_partitions_are_moved_again(tmp_path, tree):
    dst, shared = tmp_path / "dst", tmp_path / "shared"
    first, _ = new_run(shared, "full", tree, dst)
    settle(first, only={1})
    settle(first, state="failed")
    rd, res = new_run(shared, "inc", tree, dst, since="full")
    not_first = sorted(p for part in part_ids(first)[1:] for p in read_list(first, part))
    assert planned(rd) == not_first
    assert res["plan"]["incremental"]["previous_succeeded"] is False


def test_mirror_rsync_deletes_exactly_the_deleted(tmp_path, tree):
    shared, dst = full_then(tmp_path, tree)
    shutil.copytree(str(tree), str(dst), symlinks=True)
    (dst / "not-ours").write_text("a file the source never had")
    change(tree)
    rd, res = new_run(shared, "inc", tree, dst, since="full", mirror=True, max_delete=5,
                      max_delete_share=0.5)
    mirror = res["plan"]["incremental"]["mirror"]
    assert mirror["applied"] == 5
    assert sorted(os.fsencode(p) for p in mirror["deleted"]) == DELETED
    assert not (dst / "c" / "f0").exists() and (dst / "c" / "f1").exists()
    assert not (dst / "gone").exists()  # emptied and gone from the source
    assert (dst / "not-ours").exists()  # never listed, never touched


@pytest.mark.parametrize("case", ["too_many", "share", "crawl_error", "previous_failed"])
def test_mirror_guards_refuse_and_say_how(tmp_path, tree, case):
    dst, shared = tmp_path / "dst", tmp_path / "shared"
    first, _ = new_run(shared, "full", tree, dst)
    settle(first, only=None if case != "previous_failed" else {1})
    shutil.copytree(str(tree), str(dst), symlinks=True)
    change(tree)
    kw = dict(mirror=True, max_delete=100, max_delete_share=1.0)
    expect = {"too_many": "exceed datamover_max_delete=4",
              "share": "more than datamover_max_delete_share=0.1",
              "crawl_error": "crawl had 1 errors",
              "previous_failed": "previous run full did not succeed"}[case]
    if case == "too_many":
        kw["max_delete"] = 4
    elif case == "share":
        kw["max_delete_share"] = 0.1
    elif case == "crawl_error":
        os.mkfifo(str(tree / "a" / "fifo"))
        os.chmod(str(tree / "b"), 0)
        if os.access(str(tree / "b"), os.R_OK):  # root with DAC override: plant it otherwise
            os.chmod(str(tree / "b"), 0o755)
            os.symlink("x", str(tree / "b" / "loop"))
            from unittest import mock
            real = os.scandir

            def failing(path):
                if os.fsencode(path).endswith(b"/b"):
                    raise PermissionError(13, "Permission denied")
                return real(path)
            with mock.patch("os.scandir", failing):
                with pytest.raises(PlanError, match=expect):
                    new_run(shared, "inc", tree, dst, since="full", **kw)
            assert (dst / "c" / "f0").exists()
            return
    with pytest.raises(PlanError, match=expect) as err:
        new_run(shared, "inc", tree, dst, since="full", **kw)
    assert "nothing deleted" in str(err.value) and "re-run" in str(err.value) or \
        "resume it" in str(err.value) or "run again" in str(err.value)
    assert (dst / "c" / "f0").exists() and (dst / "gone").exists()


def test_mirror_needs_since(tmp_path, tree):
    with pytest.raises(PlanError, match="datamover_mirror needs datamover_since"):
        new_run(tmp_path / "shared", "m", tree, tmp_path / "dst", mirror=True)


def test_since_refuses_another_migration_or_unfinished_plan(tmp_path, tree):
    shared, dst = full_then(tmp_path, tree)
    with pytest.raises(PlanError, match="an incremental run follows a run of the same"):
        new_run(shared, "other", tree, tmp_path / "elsewhere", since="full")
    with pytest.raises(PlanError, match="no such run"):
        new_run(shared, "x", tree, dst, since="nope")
    os.unlink(os.path.join(str(shared), "full", "plan.json"))
    with pytest.raises(PlanError, match="never finished planning"):
        new_run(shared, "y", tree, dst, since="full")


def test_groups_refuse_a_manifest_out_of_crawl_order():
    records = [b"f 1 1\ta/x", b"f 1 1\tb/x", b"f 1 1\ta/y"]
    with pytest.raises(ManifestOrderError, match="not in crawl order"):
        list(dir_groups(records))


def test_diff_streams_in_lockstep():
    prev = [b"f 1 1\ttop", b"f 1 1\ta/x", b"f 1 1\ta/y", b"d 0 0\ta/e", b"f 2 2\tz/q"]
    gone = []
    diff = Diff(iter(prev), gone.append)
    assert diff.compare(b"", [b"f 1 1\ttop\0"]) == []
    assert diff.compare(b"a", [b"f 1 1\ta/x\0", b"f 9 1\ta/y\0", b"f 1 1\ta/n\0"]) == \
        [b"f 9 1\ta/y\0", b"f 1 1\ta/n\0"]
    assert diff.compare(b"b", [b"f 1 1\tb/x\0"]) == [b"f 1 1\tb/x\0"]
    assert gone == [b"d 0 0\ta/e\0"]
    summary = diff.finish()
    assert gone == [b"d 0 0\ta/e\0", b"f 2 2\tz/q\0"]
    assert (summary["unchanged"], summary["changed"], summary["new"], summary["deleted"]) == \
        (2, 1, 2, 2)


def test_reported_deletions_carry_to_the_next_pass(tmp_path, tree):
    """Catch-up passes only report deletions; the final mirror pass still deletes them all."""
    shared, dst = full_then(tmp_path, tree)
    shutil.copytree(str(tree), str(dst), symlinks=True)
    change(tree)
    rd, res = new_run(shared, "catchup", tree, dst, since="full")
    assert res["plan"]["incremental"]["deleted"] == 5
    settle(rd)
    os.unlink(str(tree / "a" / "f3"))
    write(tree / "c" / "f0", b"back, different")  # a deleted file comes back
    rd2, res2 = new_run(shared, "final", tree, dst, since="catchup", mirror=True, max_delete=10,
                        max_delete_share=1.0)
    inc = res2["plan"]["incremental"]
    assert sorted(os.fsencode(p) for p in inc["mirror"]["deleted"]) == \
        sorted([b"a/f3"] + [b"gone/sub/f%d" % i for i in range(4)])
    assert planned(rd2) == [b"c/f0"]
    assert not (dst / "a" / "f3").exists() and not (dst / "gone").exists()


def test_hostile_names_and_huge_directories(tmp_path, monkeypatch):
    """Names with newlines, tabs, non-UTF-8 bytes compare as bytes; a directory streamed in
    readdir order (larger than the crawl's sort limit) is compared as a whole."""
    import functools

    from ansible_collections.datamover.fleet.plugins.module_utils.plan import crawl_split
    from ansible_collections.datamover.fleet.plugins.module_utils.plan import incremental

    from tests.lab.trees import hostile_tree
    src = tmp_path / "src"
    hostile_tree(str(src / "h"))
    for i in range(12):
        write(src / "huge" / ("f%02d" % i), b"x")
    monkeypatch.setattr(incremental, "split_crawl",
                        functools.partial(crawl_split.split_crawl, sort_limit=5))
    shared, dst = tmp_path / "shared", tmp_path / "dst"
    first, _ = new_run(shared, "full", src, dst)
    settle(first)
    rd, res = new_run(shared, "inc", src, dst, since="full")
    assert planned(rd) == [] and res["plan"]["incremental"]["deleted"] == 0
    settle(rd)
    os.unlink(os.path.join(os.fsencode(str(src)), b"h/new\nline"))
    write(os.path.join(os.fsencode(str(src)), b"h/tab\there"), b"changed content")
    write(src / "huge" / "f07", b"changed")
    os.unlink(str(src / "huge" / "f03"))
    rd2, res2 = new_run(shared, "inc2", src, dst, since="inc")
    assert planned(rd2) == [b"h/tab\there", b"huge/f07"]
    gone = sorted(r.partition(b"\t")[2] for r in iter_records([rd2.deletions_path()]))
    assert gone == [b"h/new\nline", b"huge/f03"]


def test_rclone_mirror_deletes_by_name_without_a_shell(tmp_path, tree, monkeypatch):
    from ansible_collections.datamover.fleet.plugins.module_utils.work import mirror

    calls = []

    class Proc:
        returncode = 0

    def fake_run(argv, **kw):
        assert isinstance(argv, list) and "shell" not in kw
        with open(argv[argv.index("--files-from-raw") + 1], "rb") as handle:
            calls.append((argv, handle.read()))
        return Proc()

    monkeypatch.setattr(mirror.subprocess, "run", fake_run)
    monkeypatch.setattr(mirror, "make_tool", lambda meta: _FakeRclone())
    shared = tmp_path / "shared"
    first, _ = new_run(shared, "full", tree, "remote:bucket/p", tool="rclone")
    settle(first)
    os.unlink(str(tree / "link"))
    os.unlink(str(tree / "a" / "f0"))
    os.rmdir(str(tree / "empty"))
    rd, res = new_run(shared, "inc", tree, "remote:bucket/p", tool="rclone", since="full",
                      mirror=True, max_delete=3, max_delete_share=1.0)
    (argv, names), = calls
    assert argv[1:4] == ["delete", "remote:bucket/p/", "--files-from-raw"]
    assert sorted(names.split(b"\n")) == [b"", b"a/f0", b"link.rclonelink"]
    assert res["plan"]["incremental"]["mirror"]["applied"] == 2


class _FakeRclone:
    destination = "remote:bucket/p"

    def base_argv(self):
        return ["rclone"]


def test_a_mostly_unfinished_previous_run_is_resumed_first(tmp_path, tree, monkeypatch):
    from ansible_collections.datamover.fleet.plugins.module_utils.plan import incremental
    monkeypatch.setattr(incremental, "RETRY_LIMIT", 3)
    dst, shared = tmp_path / "dst", tmp_path / "shared"
    new_run(shared, "full", tree, dst)
    with pytest.raises(PlanError, match="resume it first"):
        new_run(shared, "inc", tree, dst, since="full")


def _diff_both_ways(tmp_path, prev_files, scans):
    """Run the same diff with the previous manifest parsed record by record and as a
    PrevStream: (moved, deleted, summary) of each."""
    out = []
    for mode in ("records", "stream"):
        gone = []
        if mode == "records":
            diff = Diff(iter_records(prev_files), gone.append)
        else:
            diff = Diff(None, gone.append, stream=PrevStream(prev_files))
        moved = [rec for rel, records in scans for rec in diff.compare(rel, records)]
        summary = diff.finish()
        summary.pop("samples")
        out.append((moved, gone, summary, diff))
    return out


def _scans(src):
    return [(s.rel, list(s.records)) for s in Crawl(str(src), attrs=True, threads=1).scans()]


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_stream_diff_equals_the_record_diff(tmp_path, chunk, monkeypatch):
    """Unchanged directories are passed over as bytes, changed ones entry by entry: the
    result is the same as parsing every record, whatever the read size (records cut across
    chunks), with partition manifests ("D" markers, a directory cut across two files) as
    the previous manifest."""
    monkeypatch.setattr(PrevStream, "CHUNK", chunk)
    src = tmp_path / "src"
    for d in ("a", "a/deep", "b", "big", "c", "gone/sub", "z"):
        for i in range(3 if d != "big" else 40):
            write(src / d / ("f%02d" % i), b"x" * (i + 1))
    os.makedirs(str(src / "empty"))
    before = _scans(src)
    # the previous manifest as a full run's partitions: "D" markers, "big" cut in two files
    files, blobs = [], [[]]
    for rel, records in before:
        if rel == b"big":
            blobs[-1].append(b"".join(records[:15]))
            blobs.append([b"".join(records[15:])])
            continue
        if rel in (b"a", b"c", b"z"):
            blobs[-1].append(b"D 0 0\t" + rel + b"\0")
        blobs[-1].append(b"".join(records))
    for i, blob in enumerate(blobs):
        path = tmp_path / ("%06d.manifest" % (i + 1))
        path.write_bytes(b"".join(blob))
        files.append(str(path))
    write(src / "b" / "f01", b"changed size")
    os.chmod(str(src / "c" / "f00"), 0o600)
    write(src / "a" / "deep" / "new", b"n")
    os.unlink(str(src / "big" / "f39"))
    shutil.rmtree(str(src / "gone"))
    write(src / "fresh" / "x", b"x")
    (moved_a, gone_a, sum_a, _d), (moved_b, gone_b, sum_b, diff) = \
        _diff_both_ways(tmp_path, files, _scans(src))
    assert moved_a == moved_b and gone_a == gone_b and sum_a == sum_b
    names = sorted(r.partition(b"\t")[2] for r in moved_b)
    assert names == [b"a/deep/new\0", b"b/f01\0", b"c/f00\0", b"fresh/x\0"]
    assert sorted(g.partition(b"\t")[2] for g in gone_b) == \
        [b"big/f39\0"] + [b"gone/sub/f%02d\0" % i for i in range(3)]
    assert sum_b["unchanged"] == sum_a["unchanged"] > 40


def test_stream_diff_passes_unchanged_directories_without_parsing(tmp_path, monkeypatch):
    src = tmp_path / "src"
    for d in range(20):
        for i in range(5):
            write(src / ("d%02d" % d) / ("f%d" % i), b"x")
    before = _scans(src)
    prev = tmp_path / "prev.manifest"
    prev.write_bytes(b"".join(b"".join(records) for _rel, records in before))
    write(src / "d07" / "f1", b"changed")
    parsed = []
    real = PrevStream.group
    monkeypatch.setattr(PrevStream, "group", lambda self: parsed.append(1) or real(self))
    moved, _gone, summary, _diff = _diff_both_ways(tmp_path, [str(prev)], _scans(src))[1]
    assert [m.partition(b"\t")[2] for m in moved] == [b"d07/f1\0"]
    assert summary["unchanged"] == 99
    assert len(parsed) <= 2, "only the changed directory is parsed (and the end of the stream)"


def test_a_full_rsync_run_records_mode_and_owner(tmp_path, tree):
    """A full rsync run keeps mode/uid/gid in its manifests, so the first incremental pass
    after it already sees a chmod or a chown (and compares directories as bytes)."""
    shared, dst = full_then(tmp_path, tree)
    os.chmod(str(tree / "a" / "f0"), 0o600)
    os.chown(str(tree / "b" / "f1"), 4321, 4321)
    rd, res = new_run(shared, "inc", tree, dst, since="full")
    assert planned(rd) == [b"a/f0", b"b/f1"]
    assert res["plan"]["incremental"]["changed"] == 2

"""partitioner + planning: partitions cover the crawl exactly, respect limits, are deterministic,
and the plan step creates / resumes / refuses runs as documented."""
from __future__ import annotations

import os
import shutil

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan import partitioner
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import (
    Crawl,
    DirScan,
    Entry,
    manifest_record,
)
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import read_json
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    PartWriter,
    PlanError,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
    RunDir,
    RunDirError,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
    RunState,
    make_token,
)

from tests.unit.helpers import new_run, part_ids, part_totals, plan_params, read_list, write

MAX_FILES, MAX_BYTES = 7, 2000


@pytest.fixture
def source(tmp_path):
    root = os.fsencode(str(tmp_path / "src"))
    for d in range(3):
        for i in range(17):
            size = (d * 17 + i) * 37 % 500
            write(os.path.join(root, b"d%d" % d, b"f%02d" % i), b"z" * size)
    write(os.path.join(root, b"d1", b"huge"), b"H" * 5000)      # bigger than MAX_BYTES
    write(os.path.join(root, b"d2", b"exact"), b"E" * MAX_BYTES)  # exactly the limit
    write(os.path.join(root, b"name\nwith newline"), b"n")
    write(os.path.join(root, b"bad-\xff"), b"b")
    os.makedirs(os.path.join(root, b"empty-dir"))
    os.symlink(b"d0/f00", os.path.join(root, b"link"))
    os.mkfifo(os.path.join(root, b"fifo"))
    return root


def _plan(tmp_path, source, run_id="run1", **kw):
    kw.setdefault("partition_files", MAX_FILES)
    kw.setdefault("partition_bytes", MAX_BYTES)
    return new_run(tmp_path / "shared", run_id, os.fsdecode(source), str(tmp_path / "dst"), **kw)


def _manifest(rundir, part_id):
    return list(rundir.read_manifest(part_id))


def test_every_entry_in_exactly_one_partition_and_files_agree(tmp_path, source):
    rundir, result = _plan(tmp_path, source)
    crawl = list(Crawl(source))
    ids = part_ids(rundir)
    assert ids == list(range(1, len(ids) + 1))
    assert result["published"] == len(ids) == result["plan"]["parts"]
    listed, manifested = [], []
    for pid in ids:
        lst = read_list(rundir, pid)
        man = _manifest(rundir, pid)
        assert lst == [m[3] for m in man], "list and manifest of %d disagree" % pid
        listed.extend(lst)
        manifested.extend(man)
    # same entries, same order, each once
    assert listed == [e.path for e in crawl]
    assert len(set(listed)) == len(listed)
    assert manifested == [(e.kind, e.size, e.mtime_ns, e.path) for e in crawl]
    assert b"name\nwith newline" in listed and b"bad-\xff" in listed
    assert (("d", 0, 0, b"empty-dir")) in manifested
    assert any(m[0] == "l" and m[3] == b"link" for m in manifested)
    assert not any(m[3] == b"fifo" for m in manifested)


def test_partition_limits(tmp_path, source):
    rundir, _ = _plan(tmp_path, source)
    alone = []
    for pid in part_ids(rundir):
        man = _manifest(rundir, pid)
        size = sum(m[1] for m in man)
        assert part_totals(rundir, pid) == (sum(1 for m in man if m[0] != "d"), size)
        assert 1 <= len(man) <= MAX_FILES
        if size > MAX_BYTES:
            assert len(man) == 1, "partition %d: %d bytes in %d entries" % (pid, size, len(man))
            alone.append(man[0][3])
    assert alone == [b"d1/huge"]


def test_partitions_are_filled_greedily(tmp_path, source):
    """A partition is closed when the next entry would not fit (no directory of this tree
    qualifies for the early close of the next test)."""
    rundir, _ = _plan(tmp_path, source)
    ids = part_ids(rundir)
    for pid, nxt in zip(ids, ids[1:]):
        man = _manifest(rundir, pid)
        first_next = _manifest(rundir, nxt)[0]
        full_files = len(man) == MAX_FILES
        full_bytes = sum(m[1] for m in man) + first_next[1] > MAX_BYTES
        assert full_files or full_bytes, "partition %d closed early" % pid


def test_plan_json_totals(tmp_path, source):
    rundir, result = _plan(tmp_path, source)
    crawl = list(Crawl(source))
    plan = read_json(rundir.p("plan.json"))
    assert plan == result["plan"]
    assert plan["engine"] == "native"
    assert plan["parts"] == len(part_ids(rundir))
    assert plan["files"] == sum(1 for e in crawl if e.kind != "d")
    assert plan["bytes"] == sum(e.size for e in crawl)
    assert plan["crawl_errors"] == 0
    assert plan["skipped"] == 1
    assert plan["skipped_samples"][0][0] == "fifo"
    assert RunState(rundir).ids("todo") == part_ids(rundir)
    assert result["created"] is True


def test_deterministic_partitions_across_runs(tmp_path, source):
    one, _ = _plan(tmp_path, source, run_id="one")
    two, _ = _plan(tmp_path, source, run_id="two", threads=1)
    assert part_ids(one) == part_ids(two)
    for pid in part_ids(one):
        with open(one.manifest_path(pid), "rb") as a, open(two.manifest_path(pid), "rb") as b:
            assert a.read() == b.read(), "%06d.manifest differs" % pid


def test_excludes_reach_the_plan(tmp_path, source):
    rundir, _result = _plan(tmp_path, source, excludes=["d1/", "*.tmp"])
    listed = [p for pid in part_ids(rundir) for p in read_list(rundir, pid)]
    assert not any(p.startswith(b"d1/") for p in listed)
    assert b"d0/f00" in listed


def _snapshot(rundir):
    out = {}
    for sub in ("parts", "state/todo", "state/done", "state/failed", "state/claimed"):
        for name in os.listdir(rundir.p(sub)):
            path = rundir.p(sub, name)
            with open(path, "rb") as handle:
                out[(sub, name)] = (handle.read(), os.stat(path).st_mtime_ns)
    return out


def test_replanning_a_complete_run_is_a_no_op(tmp_path, source):
    rundir, first = _plan(tmp_path, source)
    before = _snapshot(rundir)
    plan_before = read_json(rundir.p("plan.json"))
    # even a changed tree must not change a complete plan
    write(os.path.join(source, b"d0", b"new-file"), b"new")
    rundir2, again = _plan(tmp_path, source)
    assert again["created"] is False
    assert again["published"] == 0
    assert again["plan"] == plan_before == first["plan"]
    assert _snapshot(rundir2) == before


def test_resume_requeues_failed_and_clears_stop(tmp_path, source):
    rundir, _ = _plan(tmp_path, source)
    state = RunState(rundir)
    lease = state.claim(2, make_token("h"))
    assert state.fail(lease)
    lease = state.claim(3, make_token("h"))
    assert state.finish(lease)
    rundir.request_stop()
    _, again = _plan(tmp_path, source)
    assert again["requeued_failed"] == [2]
    assert not rundir.stop_requested()
    assert 2 in state.ids("todo") and state.ids("failed") == []
    assert state.ids("done") == [3]


def test_resume_of_an_unfinished_plan_keeps_existing_partitions(tmp_path, source):
    rundir, first = _plan(tmp_path, source)
    state = RunState(rundir)
    done = state.claim(1, make_token("h"))
    assert state.finish(done)
    with open(rundir.manifest_path(2), "rb") as handle:
        list2 = handle.read()
    os.unlink(rundir.p("plan.json"))  # as if the planner died before the end
    _, again = _plan(tmp_path, source)
    assert again["plan"]["parts"] == first["plan"]["parts"]
    assert again["published"] == first["plan"]["parts"]
    assert state.ids("done") == [1]
    assert 1 not in state.ids("todo")
    with open(rundir.manifest_path(2), "rb") as handle:
        assert handle.read() == list2


@pytest.mark.parametrize("key,value", [("source", "/elsewhere"),
                                       ("destination", "/other-dst"),
                                       ("tool", "rclone")])
def test_run_id_of_another_migration_is_refused(tmp_path, source, key, value):
    _plan(tmp_path, source, run_id="mine")
    params = plan_params(os.fsdecode(source), str(tmp_path / "dst"),
                         partition_files=MAX_FILES, partition_bytes=MAX_BYTES)
    params[key] = value
    with pytest.raises(RunDirError) as err:
        make_plan(RunDir(str(tmp_path / "shared"), "mine"), params)
    msg = str(err.value)
    assert "'mine'" in msg
    assert key in msg
    assert "datamover_run_id" in msg


def test_same_rsync_destination_with_trailing_slash_resumes(tmp_path, source):
    _plan(tmp_path, source, run_id="mine")
    rundir = RunDir(str(tmp_path / "shared"), "mine")
    params = plan_params(os.fsdecode(source) + "/", str(tmp_path / "dst") + "/",
                         partition_files=MAX_FILES, partition_bytes=MAX_BYTES)
    assert make_plan(rundir, params)["created"] is False


@pytest.mark.parametrize("run_id", ["", "-starts-with-dash", ".hidden", "a/b", "..", "a b",
                                    "x" * 129, "semi;colon", "new\nline", None])
def test_invalid_run_ids_rejected(tmp_path, run_id):
    with pytest.raises(RunDirError) as err:
        RunDir(str(tmp_path), run_id)
    assert "run id" in str(err.value)


@pytest.mark.parametrize("run_id", ["a", "0", "20261125T120000Z-1a2b", "x.y_z-1", "x" * 128])
def test_valid_run_ids_accepted(tmp_path, run_id):
    assert RunDir(str(tmp_path), run_id).path == os.path.join(str(tmp_path), run_id)


@pytest.mark.parametrize("files,nbytes", [(0, 10), (10, 0), (-1, 10), (10, -5)])
def test_non_positive_limits_rejected(tmp_path, files, nbytes):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    with pytest.raises(PlanError):
        PartWriter(rundir, files, nbytes)


def test_non_positive_limits_fail_the_plan(tmp_path, source):
    with pytest.raises(PlanError):
        _plan(tmp_path, source, partition_files=0)
    rundir = RunDir(str(tmp_path / "shared"), "run1")
    assert rundir.plan_failed() is not None
    assert not rundir.plan_complete()


def test_partwriter_oversize_entry_alone(tmp_path):
    rundir = RunDir(str(tmp_path / "shared"), "r")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    writer = PartWriter(rundir, 3, 100)
    sizes = [10, 10, 500, 0, 0, 60, 50, 1, 1, 1, 1]
    for i, size in enumerate(sizes):
        writer.add(Entry(b"f%02d" % i, "f", size, 0))
    writer.close()
    assert writer.close() is None  # nothing left to publish
    parts = [[m[1] for m in rundir.read_manifest(pid)] for pid in part_ids(rundir)]
    assert parts == [[10, 10], [500], [0, 0, 60], [50, 1, 1], [1, 1]]
    assert writer.total_bytes == sum(sizes) and writer.total_files == len(sizes)
    assert writer.published == 5


def test_plan_failed_written_when_the_crawl_raises(tmp_path, source, monkeypatch):
    class Boom:
        errors, skipped, errors_count, skipped_count = [], [], 0, 0

        def __init__(self, *a, **kw):
            pass

        def scans(self):
            first = DirScan(b"")
            first.records, first.sizes = [manifest_record("f", 1, 0, b"first")], [1]
            yield first
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(partitioner, "Crawl", Boom)
    with pytest.raises(OSError):
        _plan(tmp_path, source)
    rundir = RunDir(str(tmp_path / "shared"), "run1")
    failed = rundir.plan_failed()
    assert "Input/output error" in failed["error"]
    assert not rundir.plan_complete()
    # a new attempt clears the stale marker
    monkeypatch.undo()
    _plan(tmp_path, source)
    assert not rundir.plan_failed() is not None
    assert rundir.plan_complete()


def test_missing_source_fails_the_plan(tmp_path, source):
    """An unmounted/missing source must not become an empty, 'complete' plan: the workers
    would finish at once and the run would be reported as succeeded with 0 files."""
    shutil.rmtree(source)
    with pytest.raises(PlanError) as err:
        _plan(tmp_path, source)
    assert os.fsdecode(source) in str(err.value) and "unmounted" in str(err.value)
    rundir = RunDir(str(tmp_path / "shared"), "run1")
    assert not rundir.exists(), "refused before anything is written"
    assert not rundir.plan_complete()


@pytest.mark.skipif(shutil.which("fpart") is None, reason="fpart binary not installed")
def test_fpart_engine_partitions(tmp_path, source):
    os.unlink(os.path.join(source, b"fifo"))
    rundir, result = _plan(tmp_path, source, engine="fpart")
    crawl = {e.path: e for e in Crawl(source)}
    listed = []
    for pid in part_ids(rundir):
        lst = read_list(rundir, pid)
        man = _manifest(rundir, pid)
        assert lst == [m[3] for m in man]
        size = sum(m[1] for m in man)
        assert len(man) <= MAX_FILES
        assert size <= MAX_BYTES or len(man) == 1
        listed.extend(lst)
    assert len(listed) == len(set(listed))
    assert {p for p in listed if crawl.get(p) is None or crawl[p].kind != "d"} \
        == {p for p, e in crawl.items() if e.kind != "d"}
    assert result["plan"]["engine"] == "fpart"
    assert result["plan"]["files"] == sum(1 for e in crawl.values() if e.kind != "d")


def test_resume_may_change_mutable_options(tmp_path, source):
    rundir, _ = _plan(tmp_path, source, run_id="mut")
    _, again = _plan(tmp_path, source, run_id="mut", tool_options=["--bwlimit=1M"],
                     verify="checksum")
    assert again["created"] is False
    meta = rundir.load()
    assert meta["tool_options"] == ["--bwlimit=1M"] and meta["verify"] == "checksum"
    assert meta["changes"][-1]["tool_options"] == ["--bwlimit=1M"]
    assert meta["source"] == os.path.normpath(os.fsdecode(source))


@pytest.mark.skipif(shutil.which("fpart") is None, reason="fpart binary not installed")
@pytest.mark.parametrize("excludes", [[], ["d1/", "*.tmp", "d0/f0*", "empty-dir/"]])
def test_fpart_and_native_plan_the_same_entries(tmp_path, source, excludes):
    os.unlink(os.path.join(source, b"fifo"))
    write(os.path.join(source, b"d2", b"junk.tmp"), b"t")
    write(os.path.join(source, b"sub", b"d1", b"kept-unless-name-pattern"), b"k")
    os.makedirs(os.path.join(source, b"deep", b"empty", b"inner-empty"))
    native, nres = _plan(tmp_path, source, run_id="native", excludes=excludes)
    fpart, fres = _plan(tmp_path, source, run_id="fpart", engine="fpart", excludes=excludes)

    def entries(rd):
        out = [m for pid in part_ids(rd) for m in _manifest(rd, pid)]
        assert len(out) == len({m[3] for m in out}), "an entry is in two partitions"
        return sorted(out, key=lambda m: m[3])

    assert entries(fpart) == entries(native)
    assert fres["plan"]["files"] == nres["plan"]["files"]
    assert fres["plan"]["bytes"] == nres["plan"]["bytes"]


@pytest.mark.skipif(shutil.which("fpart") is None, reason="fpart binary not installed")
def test_fpart_deterministic(tmp_path, source):
    os.unlink(os.path.join(source, b"fifo"))
    one, _ = _plan(tmp_path, source, run_id="f1", engine="fpart")
    two, _ = _plan(tmp_path, source, run_id="f2", engine="fpart")
    assert part_ids(one) == part_ids(two)
    for pid in part_ids(one):
        assert read_list(one, pid) == read_list(two, pid)


@pytest.mark.skipif(shutil.which("fpart") is None, reason="fpart binary not installed")
def test_fpart_special_files_reported(tmp_path, source):
    rundir, result = _plan(tmp_path, source, engine="fpart")
    listed = [p for pid in part_ids(rundir) for p in read_list(rundir, pid)]
    assert b"fifo" not in listed
    assert result["plan"]["skipped"] == 1
    assert result["plan"]["skipped_samples"][0][0] == "fifo"


@pytest.mark.parametrize("per_dir, cut", [(100, False), (150, True)])
def test_a_directory_that_fits_a_partition_starts_one_once_three_quarters_full(
        tmp_path, per_dir, cut):
    """Dirs of 100 files, 256 per partition: two whole dirs each (200 >= 192), none cut.
    Dirs of 150: a partition of one dir is under 3/4, so the next dir is cut to fill it."""
    src = tmp_path / "src"
    for d in range(6):
        for i in range(per_dir):
            write(str(src / ("d%d" % d) / ("f%03d" % i)), b"x")
    rundir, result = new_run(tmp_path / "shared", "run", str(src), str(tmp_path / "dst"),
                             partition_files=256)
    owners = {}
    for pid in part_ids(rundir):
        entries, whole, _trees = rundir.read_partition(pid)
        assert len(entries) <= 256
        for entry in entries:
            owners.setdefault(entry[3].split(b"/")[0], set()).add(pid)
        if not cut:
            assert len(whole) == 2 and len(entries) == 200
    split = [d for d, parts in owners.items() if len(parts) > 1]
    assert bool(split) is cut
    if not cut:
        assert result["published"] == 3
    else:
        assert result["published"] == 4  # 900 files: 256 + 256 + 256 + 132, as before


def test_tick_publishes_a_partition_that_waited_long_enough(tmp_path, monkeypatch):
    """An incremental pass finds changes sparsely: a partition waiting longer than
    max(FLUSH_MIN_SECONDS, a tenth of the crawl so far) is published as it is."""
    from ansible_collections.datamover.fleet.plugins.module_utils.plan import partitioner
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Entry
    clock = [1000.0]
    monkeypatch.setattr(partitioner.time, "monotonic", lambda: clock[0])
    rundir = RunDir(str(tmp_path / "shared"), "r")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    writer = partitioner.PartWriter(rundir, 100, 10 ** 9)
    assert writer.tick() is None, "nothing to publish"
    writer.add(Entry(b"a/x", "f", 1, 1))
    clock[0] += 0.05
    assert writer.tick() is None, "not yet: 0.05 s < FLUSH_MIN_SECONDS"
    clock[0] += 0.06
    assert writer.tick() == 1 and writer.published == 1
    clock[0] += 100  # a long crawl: the wait is a tenth of its time so far
    writer.add(Entry(b"a/y", "f", 1, 1))
    clock[0] += 5
    assert writer.tick() is None
    clock[0] += 7
    assert writer.tick() == 2

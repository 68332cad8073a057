"""Refusals that need no host state: overlapping paths, tunables out of range; and the shared
dir inside the source, left out of the crawl and said so in run.json."""
from __future__ import annotations

import os

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan import preflight as pf
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError

from tests.unit.helpers import new_run, part_ids, write


@pytest.fixture
def tree(tmp_path):
    for rel in ("src/a/f1", "src/b/f2", "other/f3"):
        write(str(tmp_path / rel), b"data")
    return tmp_path


@pytest.mark.parametrize("dst, shared, says", [
    ("src", "shared", "is the source"),
    ("src/backup", "shared", "is inside the source"),
    ("src/a", "shared", "is inside the source"),
    (".", "shared", "is inside the destination"),
    ("shared/out", "shared", "and the shared dir"),
    ("dst", "dst/run", "and the shared dir"),
    ("dst", "src/..", "is inside the shared dir"),
    ("dst", "src", "is inside the shared dir"),
])
def test_overlapping_rsync_paths_are_refused(tree, dst, shared, says):
    problems = pf.check_overlaps(str(tree / "src"), os.path.normpath(str(tree / dst)), "rsync",
                                 os.path.normpath(str(tree / shared)))
    assert problems and any(says in p for p in problems), problems


def test_overlaps_are_seen_through_symlinks(tree):
    os.symlink(str(tree / "src"), str(tree / "link"))
    problems = pf.check_overlaps(str(tree / "src"), str(tree / "link" / "copy"), "rsync",
                                 str(tree / "shared"))
    assert problems and "inside the source" in problems[0]


def test_separate_paths_pass(tree):
    assert pf.check_overlaps(str(tree / "src"), str(tree / "dst"), "rsync",
                             str(tree / "shared")) == []
    # a sibling whose name starts like the source's is not inside it
    assert pf.check_overlaps(str(tree / "src"), str(tree / "src2"), "rsync",
                             str(tree / "shared")) == []
    # rclone destinations are not paths
    assert pf.check_overlaps(str(tree / "src"), "remote:bucket", "rclone",
                             str(tree / "shared")) == []


def test_shared_dir_inside_the_source_is_excluded(tree):
    assert pf.shared_dir_exclude(str(tree / "src"), str(tree / "shared")) == (None, None)
    assert pf.shared_dir_exclude(str(tree / "src"), str(tree / "src" / "fp[1]*")) == (
        "/fp[[]1][*]/", "fp[1]*")
    assert pf.shared_dir_exclude(str(tree / "src"), str(tree / "src" / "a" / "run")) == (
        "/a/run/", "a/run")


def test_plan_leaves_the_shared_dir_out_and_says_so(tree):
    shared = tree / "src" / "fpsync"
    write(str(shared / "old-run" / "run.json"), b"{}")   # an earlier run's files
    write(str(tree / "src" / "c" / "fpsync" / "keep"), b"same name, deeper: data")
    rundir, result = new_run(str(shared), "r1", str(tree / "src"), str(tree / "dst"))
    names = set()
    for part in part_ids(rundir):
        names.update(e[3] for e in rundir.read_manifest(part))
    assert not [n for n in names if n.startswith(b"fpsync")]
    assert b"c/fpsync/keep" in names and b"a/f1" in names
    assert rundir.load()["excluded_automatically"] == [
        ["fpsync", "the shared dir (run directories) inside the source"]]
    assert result["plan"]["files"] == 3


def test_plan_refuses_what_preflight_refuses(tree):
    with pytest.raises(PlanError, match="is inside the source"):
        new_run(str(tree / "shared"), "r1", str(tree / "src"), str(tree / "src" / "copy"))
    with pytest.raises(PlanError, match="--remove-source-files is refused"):
        new_run(str(tree / "shared"), "r2", str(tree / "src"), str(tree / "dst"),
                tool_options=["--remove-source-files"])
    assert not os.path.exists(str(tree / "shared" / "r1"))
    assert not os.path.exists(str(tree / "shared" / "r2"))


@pytest.mark.parametrize("key, value, says", [
    ("slots", 0, "datamover_slots must be from 1 to 1024"),
    ("timeout", 0, "datamover_timeout must be at least 1"),
    ("lease_seconds", 0, "datamover_lease_seconds must be at least 2"),
    ("lease_seconds", "0.5", "datamover_lease_seconds must be at least 2"),
    ("retries", -1, "datamover_retries must be from 0 to 1000"),
    ("backoff", -0.1, "datamover_backoff must be from 0 to 86400"),
    ("watch_interval", 0, "datamover_watch_interval must be from 0.1 to 86400"),
    ("transfers", 0, "datamover_transfers must be from 1 to 1024"),
    ("crawl_threads", 0, "datamover_crawl_threads must be from 1 to 1024"),
    ("partition_files", 0, "datamover_partition_files must be at least 1"),
    ("partition_bytes", -5, "datamover_partition_bytes must be at least 1"),
    ("pods", 0, "datamover_pods must be from 1 to 10000"),
    ("slots", "many", "datamover_slots must be a number"),
    ("slots", True, "datamover_slots must be a number"),
])
def test_tunables_out_of_range_are_refused(key, value, says):
    problems = pf.check_tunables({key: value})
    assert len(problems) == 1 and problems[0].startswith(says), problems
    assert repr(value) in problems[0]


def test_tunables_in_range_pass():
    assert pf.check_tunables(dict(slots=2, timeout="604800", lease_seconds=2, retries=0,
                                  backoff=0, watch_interval=0.1, unknown=-1, pods=None)) == []

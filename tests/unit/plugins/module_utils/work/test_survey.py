"""datamover_plan_only in one process: the planner cuts a tree of known content, a worker
surveys every partition instead of moving it (real rclone adapter, nothing run), and the
report's plan_only section holds every figure the tree implies. The end-to-end pass through
the playbook, against real S3 behind a request-counting proxy, is
tests/integration/test_plan_only.py."""
from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.estimate import estimate_problems
from ansible_collections.datamover.fleet.plugins.module_utils.report.report import make_report
from ansible_collections.datamover.fleet.plugins.module_utils.run.survey_record import bucket
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker

from tests.lab.seaweed import rclone_binary
from tests.unit.helpers import new_run, write

MIB = 1 << 20
LAYOUT = ["--s3-upload-cutoff=5M", "--s3-chunk-size=5M"]
LONG = "/".join(["d" * 200] * 5) + "/key-over-the-limit"  # > 1024 bytes with the prefix


def _tree(root):
    sizes = {"empty": 0, "small": 100, "page": 5000, "mid": 70000, "two-mib": 2 * MIB,
             "deep/a/b/c/d/e/f/big": 13 * MIB + 5, LONG: 10}
    for rel, size in sizes.items():
        write(os.path.join(root, rel), os.urandom(size))
    with open(os.path.join(root, "sparse"), "wb") as handle:  # 8 MiB apparent, 1 byte written
        handle.truncate(8 * MIB)
        handle.seek(8 * MIB - 1)
        handle.write(b"x")
    write(os.path.join(root, "links", "one"), os.urandom(3000))
    os.link(os.path.join(root, "links", "one"), os.path.join(root, "links", "two"))
    os.symlink("small", os.path.join(root, "a-link"))
    os.mkfifo(os.path.join(root, "a-fifo"))
    sizes.update({"sparse": 8 * MIB, "links/one": 3000, "links/two": 3000})
    return sizes


def _plan_only(tmp_path, **extra):
    src = str(tmp_path / "src")
    sizes = _tree(src)
    rundir, _ = new_run(tmp_path / "shared", "plan", src, "dmtest:bucket/prefix", tool="rclone",
                        tool_options=LAYOUT, partition_files=3, plan_only=True, **extra)
    Worker(rundir, "h1", slots=2, binary=rclone_binary(), poll=0.05).run()
    return rundir, sizes


def test_a_plan_only_pass_reports_every_figure_of_a_known_tree(tmp_path):
    prices = {"currency": "USD", "per_1000_writes": 5.0, "per_1000_lists": 4.0,
              "per_gb_month": 20.0}
    rundir, sizes = _plan_only(tmp_path, estimate={"prices": prices,
                                                   "bytes_per_second": MIB, "files_per_second": 1})
    out = make_report(rundir)
    report, sec = out["report"], out["report"]["plan_only"]
    assert report["status"] == "succeeded", out["summary"]
    total = sum(sizes.values())
    assert (sec["files"], sec["symlinks"], sec["bytes"]) == (len(sizes), 1, total)
    assert sec["directories"] == 1 + 1 + 7 + 5  # root, links, deep and a..f, LONG's 5 dirs
    assert sec["partitions"]["count"] == report["partitions"]["total"] >= 4
    histogram = [0] * len(sec["histogram"])
    for size in sizes.values():
        histogram[bucket(size)] += 1
    assert [row["files"] for row in sec["histogram"]] == histogram
    assert sum(row["bytes"] for row in sec["histogram"]) == total
    assert sec["histogram"][0]["bucket"] == "empty"
    assert [r["path"] for r in sec["largest"][:3]] == ["deep/a/b/c/d/e/f/big", "sparse", "two-mib"]
    assert sec["deepest"][0] == {"depth": 8, "path": "deep/a/b/c/d/e/f/big"}
    assert sec["longest"][0]["path"] == LONG
    assert sec["unrepresentable"]["count"] == 1
    assert sec["unrepresentable"]["samples"][0] == [LONG, "object name longer than 1024 bytes"]
    assert sec["special"] == {"count": 1, "samples": [["a-fifo", sec["special"]["samples"][0][1]]]}
    assert sec["hardlinks"] == {"files": 2, "bytes": 6000, "inodes": 1, "duplicated_bytes": 3000}
    assert sec["sparse"]["files"] == 1 and sec["sparse"]["bytes"] == 8 * MIB
    assert sec["sparse"]["allocated"] < 64 * 1024
    req = sec["requests"]
    # 13 MiB + 5 at 5 MiB parts: one upload of 3 parts; the 8 MiB sparse file: 2 parts;
    # every other file (not the unrepresentable one) and the symlink: one PUT each
    assert (req["multipart_uploads"], req["parts"]) == (2, 5)
    assert req["put"] == len(sizes) - 2 - 1 + 1
    assert req["writes"] == req["put"] + 5 + 2 * 2
    assert req["most_parts"] == {"parts": 3, "part_size": 5 * MIB, "path": "deep/a/b/c/d/e/f/big"}
    assert req["list"] >= 1
    cost = sec["cost"]["lines"]
    assert cost["writes"] == round(req["writes"] / 1000.0 * 5.0, 4)
    assert cost["lists"] == round(req["list"] / 1000.0 * 4.0, 4)
    assert cost["storage_per_month"] == round(total / float(1 << 30) * 20.0, 4)
    assert sec["time"] == {"seconds": round(total / float(MIB), 1), "bound_by": "bytes_per_second",
                           "rates": {"bytes_per_second": MIB, "files_per_second": 1.0}}
    # what a migration would not copy is a finding of the plan, not a list of every file
    assert report["files_not_copied"]["count"] == 1  # the FIFO (special.list)
    assert all(len(open(os.path.join(rundir.path, "results", name)).read()) < 20000
               for name in os.listdir(os.path.join(rundir.path, "results")))
    summary = "\n".join(out["summary"])
    assert "PLAN ONLY: nothing was moved" in summary and "verified" not in summary
    html = open(out["report_html"]).read()
    assert 'class="histogram"' in html and html.count('class="bar"') == 2 * len(histogram)
    assert "## Size histogram" in open(out["report_md"]).read()


def test_nothing_is_written_at_a_file_system_destination(tmp_path):
    src, dst = str(tmp_path / "src"), tmp_path / "dst"
    _tree(src)
    rundir, _ = new_run(tmp_path / "shared", "plan", src, str(dst), tool="rsync",
                        partition_files=3, plan_only=True)
    Worker(rundir, "h1", slots=2, poll=0.05).run()
    assert not dst.exists()
    report = make_report(rundir)["report"]
    assert report["status"] == "succeeded"
    assert report["plan_only"]["requests"] is None  # rsync sends no requests to a store
    assert report["plan_only"]["hardlinks"]["duplicated_bytes"] == 3000


@pytest.mark.parametrize("estimate, words", [
    ({"prices": {"per_put": 1}}, "datamover_prices.per_put is not a price"),
    ({"prices": {"per_1000_writes": -1}}, "give a price of 0 or more"),
    ({"prices": {"per_1000_writes": "cheap"}}, "give a price of 0 or more"),
    ({"prices": {"currency": ""}}, "give a currency name"),
    ({"prices": [1]}, "must be a mapping"),
    ({"bytes_per_second": "fast"}, "datamover_plan_bytes_per_second='fast'"),
    ({"files_per_second": True}, "datamover_plan_files_per_second=True"),
])
def test_an_estimate_that_cannot_be_used_is_refused(estimate, words):
    problems = estimate_problems(estimate)
    assert problems and words in problems[0], problems


def test_a_plan_only_run_id_is_never_resumed_as_a_migration_nor_followed(tmp_path):
    rundir, _ = _plan_only(tmp_path)
    meta = json.load(open(os.path.join(rundir.path, "run.json")))
    assert meta["plan_only"] is True
    with pytest.raises(Exception, match="one kind of pass for life"):
        new_run(tmp_path / "shared", "plan", meta["source"], "dmtest:bucket/prefix",
                tool="rclone", tool_options=LAYOUT, partition_files=3)
    with pytest.raises(Exception, match="is a plan-only pass: it moved nothing"):
        new_run(tmp_path / "shared", "next", meta["source"], "dmtest:bucket/prefix",
                tool="rclone", tool_options=LAYOUT, partition_files=3, since="plan")
    assert stat.S_ISFIFO(os.lstat(os.path.join(meta["source"], "a-fifo")).st_mode)

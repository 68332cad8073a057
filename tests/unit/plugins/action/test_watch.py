"""The watch action plugin's pure parts: the progress line, the worker problems, and its
argument spec against the module documentation (plugins/modules/watch.py)."""
from __future__ import annotations

import importlib
import shutil

import pytest
import yaml
from ansible_collections.datamover.fleet.plugins.action import k8s_watch, watch
from ansible_collections.datamover.fleet.plugins.module_utils.run.status import progress_line
from ansible_collections.datamover.fleet.plugins.plugin_utils.watch_loop import worker_problems
from ansible_collections.datamover.fleet.plugins.modules import run_status, worker
from ansible_collections.datamover.fleet.plugins.modules import k8s_watch as k8s_watch_doc
from ansible_collections.datamover.fleet.plugins.modules import watch as watch_doc

from tests.unit.helpers import new_run
from tests.unit.plugins.modules.utils import module_ok

GIB = 1024 ** 3


def _status(**kw):
    st = {"run_id": "ckpt", "plan_complete": True,
          "parts": {"todo": 3, "claimed": 2, "done": 4, "failed": 1, "total": 10},
          "files_done": 400, "files_total": 1000, "bytes_done": 4 * GIB, "bytes_total": 10 * GIB,
          "workers_alive": 2, "workers": []}
    st.update(kw)
    return st


def test_progress_line_of_a_planned_run():
    line = progress_line(_status(), rate=GIB, elapsed=3661)
    assert line == ("[datamover ckpt] 5/10 parts (1 failed, 2 running) | 400/1000 files"
                    " | 4.0 GiB/10.0 GiB (40%) | 1.0 GiB/s | ETA 0:00:06 | 2 workers"
                    " | 1:01:01 elapsed")


def test_progress_line_says_a_pass_that_moves_nothing():
    plan = progress_line(_status(kind="plan-only"), rate=GIB, elapsed=1)
    assert plan.startswith("[datamover ckpt, plan only: surveyed, nothing moves] 5/10 parts")
    assert progress_line(_status(kind="audit"), rate=GIB, elapsed=1).startswith(
        "[datamover ckpt, audit] 5/10 parts")


def test_progress_line_is_never_100_percent_while_a_partition_is_claimed():
    st = _status(parts={"todo": 0, "claimed": 1, "done": 9, "failed": 0, "total": 10},
                 files_done=1000, bytes_done=10 * GIB, complete=False)
    assert "(99%)" in progress_line(st, rate=GIB, elapsed=10)
    st.update(parts={"todo": 0, "claimed": 0, "done": 10, "failed": 0, "total": 10},
              complete=True)
    assert "(100%)" in progress_line(st, rate=GIB, elapsed=10)


def test_progress_line_while_crawling_has_no_totals_nor_eta():
    st = _status(plan_complete=False, files_total=None, bytes_total=None,
                 parts={"todo": 7, "claimed": 0, "done": 0, "failed": 0, "total": 7},
                 files_done=0, bytes_done=0, workers_alive=1)
    assert progress_line(st, rate=0.0, elapsed=2) == (
        "[datamover ckpt] crawling, 7 parts so far | 0 files | 0 B | 0 B/s | 1 workers"
        " | 0:00:02 elapsed")


def test_progress_line_without_rate_has_no_eta():
    assert "ETA" not in progress_line(_status(), rate=0.0, elapsed=10)


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_progress_line_reads_what_run_status_returns(tmp_path):
    """The contract between run_status's result and the plugin, on a real finished run."""
    shared, src = str(tmp_path / "shared"), tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(6):
        (src / "d" / ("f%d" % i)).write_bytes(b"y" * 1024)
    module_ok(worker, dict(shared_dir=shared, run_id="ckpt", host="h1", poll=0.05,
                           plan=dict(source=str(src), destination=str(tmp_path / "dst"),
                                     tool="rsync", partition_files=3, threads=2)))
    st = module_ok(run_status, dict(shared_dir=shared, run_id="ckpt"))
    parts = st["parts"]["total"]
    line = progress_line(st, rate=1024.0, elapsed=6)
    assert line.startswith("[datamover ckpt] %d/%d parts | 6/6 files | 6.0 KiB/6.0 KiB (100%%) | "
                           "1.0 KiB/s | ETA 0:00:00 | 0 workers" % (parts, parts))
    assert worker_problems(st, lease_seconds=120) == []


def test_progress_line_of_a_run_just_planned(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"z" * 2048)
    new_run(str(tmp_path / "shared"), "fresh", str(src), str(tmp_path / "dst"))
    st = module_ok(run_status, dict(shared_dir=str(tmp_path / "shared"), run_id="fresh"))
    assert progress_line(st, rate=0.0, elapsed=0) == (
        "[datamover fresh] 0/1 parts | 0/1 files | 0 B/2.0 KiB (0%) | 0 B/s | 0 workers"
        " | 0:00:00 elapsed")


def test_worker_problems_names_crashed_and_silent_workers_only():
    st = _status(workers=[
        {"host": "w1", "status": "crashed", "error": "OSError: disk full", "age": 1},
        {"host": "w2", "status": "crashed", "age": 1},
        {"host": "w3", "status": "running", "age": 500},
        {"host": "w4", "status": "running", "age": 10},
        {"host": "w5", "status": "exited", "age": 9999},
        {"host": "w6", "status": "stopped", "age": 9999},
    ])
    assert worker_problems(st, lease_seconds=120) == [
        "worker on w1 crashed: OSError: disk full",
        "worker on w2 crashed: see its job",
        "worker on w3 did not end cleanly: no heartbeat for 500s (host lost?); its partitions "
        "were taken over by the others",
    ]
    assert [p.split(":")[0] for p in worker_problems(st, lease_seconds=1000)] == [
        "worker on w1 crashed", "worker on w2 crashed"]
    assert worker_problems(_status(), lease_seconds=120) == []


@pytest.mark.parametrize("action, doc_module", [(watch, watch_doc), (k8s_watch, k8s_watch_doc)])
def test_action_arguments_are_the_documented_options(action, doc_module):
    doc = yaml.safe_load(doc_module.DOCUMENTATION)
    assert "datamover.fleet.run" in doc["extends_documentation_fragment"]
    options = {}
    for fragment in doc["extends_documentation_fragment"]:
        name = fragment.rsplit(".", 1)[1]
        module = importlib.import_module("ansible_collections.datamover.fleet.plugins."
                                         "doc_fragments." + name)
        options.update(yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"])
    for name, spec in doc["options"].items():  # Ansible merges an option's keys with the fragment's
        options[name] = dict(options.get(name, {}), **spec)
    assert sorted(action.ARGS) == sorted(options)
    for name, spec in action.ARGS.items():
        assert spec["type"] == options[name]["type"], name
        assert spec.get("default") == options[name].get("default"), name
        assert bool(spec.get("required")) == bool(options[name].get("required")), name

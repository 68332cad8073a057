"""settings: one declaration of a worker's settings; every way of starting a worker takes its
defaults from it, and a request budget is split one way."""
from __future__ import annotations

import argparse

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.k8s import manifests as km
from ansible_collections.datamover.fleet.plugins.module_utils.work import settings
from ansible_collections.datamover.fleet.plugins.module_utils.work import worker_cli
from ansible_collections.datamover.fleet.plugins.modules import worker as worker_module


def test_worker_cli_flags_default_to_the_declared_settings():
    args = vars(worker_cli.build_parser().parse_args(["--worker", "w"]))
    for s in settings.SETTINGS:
        assert args[s.name] == s.default, s.name


def test_worker_cli_reads_every_flag():
    ap = argparse.ArgumentParser()
    settings.add_cli_arguments(ap)
    values = {"slots": 3, "retries": 1, "backoff": 0.25, "backoff_max": 9.0, "lease_seconds": 30.0,
              "poll": 0.1, "run_wait": 5.0, "batch": 2, "max_requests_per_second": 12.5,
              "tool_path": "/opt/rclone", "rclone_config": "/etc/r.conf"}
    assert set(values) == {s.name for s in settings.SETTINGS}
    parsed = vars(ap.parse_args(settings.cli_arguments(values)))
    assert parsed == values


def test_worker_kwargs_fill_defaults_and_name_the_binary():
    kwargs = settings.worker_kwargs({"slots": 4, "poll": None, "tool_path": "/x/rsync"})
    assert kwargs["slots"] == 4 and kwargs["poll"] == settings.DEFAULTS["poll"]
    assert kwargs["binary"] == "/x/rsync" and "tool_path" not in kwargs


def test_the_worker_module_spec_is_the_declared_settings():
    # the module's main() builds its spec from settings.argument_spec(): check what it declares
    spec = settings.argument_spec()
    for s in settings.SETTINGS:
        assert spec[s.name]["type"] == s.type
        assert spec[s.name].get("default") == s.default
    doc = worker_module.DOCUMENTATION
    assert "budget_shares" in doc


@pytest.mark.parametrize("budget, shares, expected", [
    (0, 3, 0.0), (None, 3, 0.0), (30, 3, 10.0), (30, 0, 30.0), (-5, 2, 0.0), (7.5, 1, 7.5)])
def test_budget_share(budget, shares, expected):
    assert settings.budget_share(budget, shares) == expected


def test_the_job_gives_each_pod_its_share_and_the_exit_codes_fail_it():
    p = dict(shared_dir="/s", run_id="r", slots=3, retries=2, backoff=1.0, lease_seconds=60.0,
             run_wait=10.0, max_requests_per_second=30.0, pods=4, tool="rsync")
    args = km.worker_args(p)
    assert args[args.index("--max-requests-per-second") + 1] == "7.5"
    assert args[args.index("--lease-seconds") + 1] == "60"
    assert "--rclone-config" not in args
    no_budget = km.worker_args(dict(p, max_requests_per_second=0.0))
    assert "--max-requests-per-second" not in no_budget
    assert (km.EXIT_UNUSABLE, km.EXIT_STOPPED) == (settings.EXIT_UNUSABLE, settings.EXIT_STOPPED)

"""The AWX resume template (roles/awx_job/tasks/resume.yml) resumes a run from its run id alone:
every option the run recorded in run.json (each plan option tasks/dispatch.yml gives the
workers) is taken from run.json, so an incremental pass, an audit or a plan-only pass resumes
as itself, and nothing recorded is reset to a default and recorded as a change."""
from __future__ import annotations

import os

import yaml

from tests.conftest import ROOT
from tests.unit.meta.test_variable_reference import plan_variables

# Plan options resume.yml need not carry: the run's config is the AWX credential's file
# (with_credential.yml), and the crawl's threads and the fleet's slots are per execution.
NOT_FROM_RUN_JSON = {"rclone_config", "threads", "fleet_slots"}


def _load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_every_recorded_option_is_resumed_from_run_json():
    tasks = _load("roles", "awx_job", "tasks", "resume.yml")
    given = next(t["vars"] for t in tasks if t.get("vars"))
    missing = sorted(var for key, var in plan_variables()
                     if key not in NOT_FROM_RUN_JSON
                     and "awx_job_meta" not in str(given.get(var, "")))
    assert not missing, "resume.yml does not take these from run.json: %s" % missing

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules, documented once in doc_fragments/run.py and plan.py."""
from __future__ import annotations

from ansible_collections.datamover.fleet.plugins.module_utils.tools import TOOLS
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import LEASE_SECONDS

# The workers' lease, as the modules and actions that judge a run's liveness take it.
LEASE_ARG = dict(lease_seconds=dict(type="float", default=LEASE_SECONDS))

RUN_ARGS = dict(
    shared_dir=dict(type="path", required=True),
    run_id=dict(type="str", required=True),
)

# The options of a plan, taken as the nested ``plan`` option by datamover.fleet.partition and
# datamover.fleet.worker (the first worker plans while it works).
PLAN_OPTIONS = dict(
    source=dict(type="path", required=True),
    destination=dict(type="str", required=True),
    tool=dict(type="str", required=True, choices=sorted(TOOLS)),
    engine=dict(type="str", default="native", choices=["native", "fpart"]),
    partition_files=dict(type="int", default=2000),
    partition_bytes=dict(type="int", default=10 * 1024 ** 3),
    fleet_slots=dict(type="int"),
    excludes=dict(type="list", elements="str", default=[]),
    tool_options=dict(type="list", elements="str", default=[]),
    rclone_config=dict(type="path"),
    transfers=dict(type="int", default=8),
    verify=dict(type="str", default="size", choices=["size", "checksum", "none"]),
    symlinks=dict(type="str", default="links", choices=["links", "skip"]),
    threads=dict(type="int", default=8),
    since=dict(type="str"),
    mirror=dict(type="bool", default=False),
    max_delete=dict(type="int", default=100),
    max_delete_share=dict(type="float", default=0.05),
    tolerate=dict(type="list", elements="str", default=[], choices=["unreadable", "changed", "vanished", "unrepresentable"]),
    run_dir_access=dict(type="str", default="private", choices=["private", "group"]),
    audit=dict(type="bool", default=False),
    audit_extra=dict(type="bool", default=False),
    plan_only=dict(type="bool", default=False),
    # datamover_plan_only's estimates: prices (no built-in ones) and throughput (report only)
    estimate=dict(type="dict", default={}),
)

# Ranges of the job's numeric tunables (min, max; None = unbounded), checked by preflight
# before anything runs. Types and choices are the role's argument_specs.yml; it has no ranges.
# The key is the role variable without its datamover_ prefix.
TUNABLE_RANGES = dict(
    slots=(1, 1024, "concurrent transfers per host"),
    partition_files=(1, None, "entries per partition"),
    partition_bytes=(1, None, "bytes per partition"),
    transfers=(1, 1024, "rclone transfers per slot"),
    crawl_threads=(1, 1024, "crawl threads"),
    retries=(0, 1000, "further attempts per partition"),
    backoff=(0, 86400, "seconds before the first retry"),
    # A worker refreshes its lease every quarter of it (0.5 s at least): a shorter lease
    # expires under a healthy, busy worker, and its partitions are sent again and again.
    lease_seconds=(2, None, "seconds before a silent worker's partitions are taken over"),
    watch_interval=(0.1, 86400, "seconds between progress lines"),
    timeout=(1, None, "seconds a run may take"),
    pods=(1, 10000, "worker pods"),
    max_delete=(0, None, "most deletions a mirror applies"),
    max_delete_share=(0, 1, "largest share of the previous run's entries a mirror deletes"),
    max_requests_per_second=(0, 1000000, "requests a second to the object store, fleet-wide; "
                                         "0 = no limit"),
)

PLAN_ARG = dict(plan=dict(type="dict", options=PLAN_OPTIONS))


def run_args(**extra):
    spec = dict(RUN_ARGS)
    spec.update(extra)
    return spec


def plan_defaults(**given):
    """A complete plan from some options, with the spec's defaults (tests, scripts)."""
    plan = {k: v.get("default") for k, v in PLAN_OPTIONS.items()}
    plan.update(given)
    return plan

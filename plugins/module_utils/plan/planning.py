# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan step: create (or resume) a run and cut its source into partitions."""
from __future__ import annotations

import os

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import PLAN_OPTIONS
from ansible_collections.datamover.fleet.plugins.module_utils.errors import PlanError, RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.plan.fpart import plan_fpart
from ansible_collections.datamover.fleet.plugins.module_utils.plan.incremental import plan_since, since_problems
from ansible_collections.datamover.fleet.plugins.module_utils.plan.partitioner import (
    DEFAULT_FLEET_SLOTS,
    plan_native,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.source_identity import (
    SourceGone,
    identity_problem,
    root_identity,
)
from ansible_collections.datamover.fleet.plugins.module_utils.plan.preflight import (
    check_excludes,
    check_overlaps,
    check_pass,
    check_tool_options,
    shared_dir_exclude,
    source_link_problem,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import RunState
from ansible_collections.datamover.fleet.plugins.module_utils.tools import find_binary, tool_class
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone_store import (
    identity,
    resolve_store,
    store_changes,
)

__all__ = ["PlanError", "crawl", "make_plan", "open_run", "run_meta"]

# Options that shape only the crawl (kept under run.json's "partitioning"); every other plan
# option is recorded in run.json for the workers, so a new option is declared in one place.
PLANNING_KEYS = ("engine", "partition_files", "partition_bytes", "threads", "fleet_slots")
META_KEYS = tuple(k for k in PLAN_OPTIONS if k not in PLANNING_KEYS)


def run_meta(params):
    """What run.json records of the plan's options. Credentials in the destination or the
    tool options are not recorded (run_secrets)."""
    meta = {k: params.get(k) for k in META_KEYS}
    meta["destination"], meta["tool_options"], _env = run_secrets(params)
    meta["source"] = os.path.normpath(meta["source"])
    if meta["tool"] == "rsync":
        meta["destination"] = os.path.normpath(meta["destination"])
    meta.update(tool_class(meta["tool"]).run_settings(meta))
    # fleet_slots shapes the growing byte cap (partitioner.ByteCap); kept here so that a resume
    # with another number of hosts cuts the tree exactly as the first execution did.
    meta["partitioning"] = {"engine": params.get("engine", "native"),
                            "files": params.get("partition_files"),
                            "bytes": params.get("partition_bytes"),
                            "fleet_slots": params.get("fleet_slots") or DEFAULT_FLEET_SLOTS}
    return meta


def run_secrets(params):
    """(destination, tool_options, env) of the plan, credentials taken out into env."""
    tool = tool_class(params["tool"])
    return tool.split_secrets(params.get("destination"), params.get("tool_options"))


def resolved_store(meta, binary=None, config=None):
    """What an rclone run's destination resolves to on this host (type, provider, endpoint,
    region, namespace, bucket; never a credential), or None for a tool without remotes."""
    if meta["tool"] != "rclone":
        return None
    return identity(resolve_store(find_binary("rclone", binary),
                                  config or meta.get("rclone_config"),
                                  meta["destination"], meta.get("tool_options")))


def store_problems(rundir, meta, store):
    """A resume whose rclone config resolves the destination to another store than the one
    recorded when the run was created: its objects would be split across two stores, each
    "verified". New credentials for the same store are fine (they are not part of it)."""
    if store is None or not rundir.exists():
        return []
    recorded = rundir.load().get("store")
    changes = store_changes(recorded, store) if recorded else []
    if not changes:
        return []
    return ["datamover_run_id %r wrote to another store: with this rclone config (%s) the "
            "destination %s resolves to %s. Resume with the config the run was created with, "
            "or start a new datamover_run_id for this store"
            % (rundir.run_id, meta.get("rclone_config") or "rclone's default config",
               meta["destination"], "; ".join(changes))]


def open_run(rundir, params, binary=None):
    """Create the run, or resume it: failed partitions are queued again and a STOP left by
    an earlier execution is cleared. Returns (meta, created, requeued_failed). ``binary``:
    this host's tool (datamover_tool_path), to resolve an rclone destination's store."""
    meta = run_meta(params)
    # Preflight refuses these before anything runs; checked again here because the modules
    # can be called without the play.
    problems = check_tool_options(meta["tool"], meta.get("tool_options")) + check_overlaps(
        meta["source"], meta["destination"], meta["tool"], rundir.shared_dir) \
        + check_excludes(meta.get("excludes")) + source_link_problem(meta["source"]) \
        + check_pass(meta.get("plan_only"), meta.get("audit"), meta.get("estimate"))
    if not problems and not rundir.exists():  # a resume was checked when it was created
        problems += since_problems(rundir, meta)
    store = resolved_store(meta, binary) if not problems else None
    problems += store_problems(rundir, meta, store)
    if problems:
        raise PlanError(" | ".join(problems))
    if store is not None:
        meta["store"] = store  # recorded when the run is created (or by its first resume)
    env = run_secrets(params)[2]
    # how many credentials the workers wait for (a count, nothing of them): the file goes at
    # each execution's end and the next one writes it again
    meta["secrets"] = len(env)
    try:
        source_now = root_identity(meta["source"])  # before anything is written
    except SourceGone as exc:
        other = rundir.identity_problems(meta)  # another migration's run id says more
        raise RunDirError(other[0]) if other else PlanError(str(exc))
    _pattern, inside = shared_dir_exclude(meta["source"], rundir.shared_dir)
    if inside:
        meta["excluded_automatically"] = [[inside, "the shared dir (run directories) inside "
                                                   "the source"]]
    meta, created = rundir.create_or_check(meta)
    record_source(rundir, source_now)
    if env:
        rundir.write_secrets(env)
    requeued = [] if created else RunState(rundir).requeue_failed()
    rundir.clear_leftovers()
    return meta, created, requeued


def record_source(rundir, current):
    """Record the source root's identity for the workers (source.json). A resume keeps the
    planned one: the same directory may come back under another device number (a remount of
    the same export), which is recorded; another directory fails the run."""
    planned = rundir.source_identity()
    if planned is not None:
        problem = identity_problem(dict(planned, dev_num=None), dict(current, dev_num=None))
        if problem is not None:
            raise PlanError(problem + " (if it was replaced on purpose, this run's plan no "
                                      "longer describes it: start a new datamover_run_id)")
    if planned != current:
        rundir.write_source_identity(current)


def crawl(rundir, meta, threads=8):
    """Cut the source into partitions, unless an earlier execution finished the plan.

    Returns (plan, published). On failure, plan.failed tells the waiting workers to stop.
    """
    if rundir.plan_complete():
        return rundir.plan(), 0
    part = meta["partitioning"]
    excludes = list(meta.get("excludes") or [])
    pattern, _inside = shared_dir_exclude(meta["source"], rundir.shared_dir)
    if pattern:
        excludes.append(pattern)
    try:
        if meta.get("mirror") and not meta.get("since"):
            raise PlanError(
                "datamover_mirror needs datamover_since: deletions are found by comparing with "
                "the previous run's manifest. A destination without one would have to be "
                "listed in full, which this collection does not do: run a full copy first, "
                "then incremental passes with datamover_since, the last one with "
                "datamover_mirror=true (docs/cutover.md)")
        if meta.get("since"):
            # Always the native crawl: the diff reads manifests in its order (fpart has its own).
            plan = plan_since(rundir, meta, threads=threads or 8)
        elif part["engine"] == "fpart":
            plan = plan_fpart(rundir, meta["source"], part["files"], part["bytes"], excludes,
                              fleet_slots=part.get("fleet_slots"))
        else:
            plan = plan_native(rundir, meta["source"], part["files"], part["bytes"],
                               excludes, threads=threads or 8, attrs=meta["tool"] == "rsync",
                               fleet_slots=part.get("fleet_slots"))
    except BaseException as exc:
        rundir.mark_plan_failed(str(exc) or type(exc).__name__)
        raise
    return plan, plan["parts"]


def make_plan(rundir, params):
    meta, created, requeued = open_run(rundir, params)
    plan, published = crawl(rundir, meta, params.get("threads"))
    return {"run_dir": rundir.path, "created": created, "plan": plan,
            "requeued_failed": requeued, "published": published}

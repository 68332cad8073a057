# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run directory: the one place where a migration's plan, state and results live.

This module owns the layout: no other file names a file of it. Layout (all under
``<shared_dir>/<run_id>/``)::

    run.json                 what the run moves and how (identity keys immutable); "store":
                             what an rclone destination resolved to when the run was created
                             (type, provider, endpoint, region, namespace, bucket; never a
                             credential): a resume must resolve to the same
    plan.json                written when the crawl has finished: totals, crawl errors
    plan.failed              written when the crawl failed: waiting workers stop
    STOP                     asks every worker to stop after its current partitions
    controller.lock          the controller running the run (host, pid, start, nonce); its mtime is
                             the watch's heartbeat (runlock.py). A second controller is refused
    source.json              the source root's identity when the run was planned (inode,
                             device, mount point and type: plan/source_identity.py); every
                             worker compares the root with it before it moves a partition
    parts/NNNNNN.manifest    one record per entry: b"<kind> <size> <mtime_ns>\\t<path>\\0"
    parts/NNNNNN.dirs        the identity of each directory the partition moves from, as the
                             crawl found it: b"<on the root's file system: 1|0> <ino>\\t<path>\\0"
                             (a directory that became a symlink, another directory or another
                             file system since is caught before the transfer and at
                             verification). Written before the manifest; absent for the fpart
                             engine and runs planned before 0.4.
    source.manifest          incremental runs (datamover_since): every entry of the source in
                             crawl order, parts/ holding only what changed; rsync's records add
                             b" <mode> <uid> <gid>" to the head. A full run's parts/ are its
                             complete manifest already.
    special.list             the special files (devices, FIFOs, sockets) the crawl left out
    deletions.manifest       incremental runs: the previous run's records of entries gone from
                             the source (what a mirror deletes), in crawl order
    state/{todo,claimed,done,failed}/   see runstate.py (the state machine)
    results/NNNNNN.json      what the attempts on a partition did (records.PartResult)
    workers/<host>.json      each worker's heartbeat and totals
    progress/<host>.json     each worker's live progress (files, bytes in flight), rewritten
                             in place at most once a second
    logs/NNNNNN.<attempt>.log  the transfer tool's output for each attempt; logs/fpart.log,
                             logs/mirror.log, logs/worker-<host>.log (a detached worker's own),
                             logs/plan.log (the Kubernetes executor's detached planner's own)
    tmp/                     per-claim work directories; clock-<host>, one per host
    kubernetes/{alive,done}  the Kubernetes executor's guard: the watch's heartbeat, release;
    kubernetes/guard.log     the detached guard's output (what it deleted, or why it could not)
    private/secrets.json     credentials taken out of the destination and tool options (0600):
                             the workers give them to the tool as environment variables.
                             Written by each execution, removed at its end (controller lock
                             release, k8s_release); run.json's "secrets" says how many to expect
    uploads.json             what the end-of-run clean-up did about multipart uploads
    report.json, report.md, report.html
    not-copied.jsonl         every source file not at the destination, one JSON record a line
    audit-extra.json, extra-at-destination.jsonl, audit-extra.claimed
                             datamover_audit_extra: what the destination holds that the source
                             does not (the count, every name, the worker that listed it)

and, in the shared dir itself, the preflight canaries ``.datamover-canary-<nonce>[-<host>]``.
The same listing for operators: docs/run-directory.md (a test keeps it complete).

The manifest records size and mtime for every entry so verification can compare the
destination with what was crawled, and so a later incremental run can move only what changed.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.errors import RunDirError
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import (
    atomic_write_bytes,
    atomic_write_json,
    file_mode_of,
    open_private,
    read_json,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.records import (
    PartResult,
    read_manifest_bytes,
)
from ansible_collections.datamover.fleet.plugins.module_utils.run.wakeup import QUEUE_CHANGED

__all__ = ["RunDir", "RunDirError", "StreamFile", "host_canary_seen", "iter_records",
           "moves_data", "part_name", "pass_kind", "read_canary",
           "remove_canary", "write_canary", "write_host_canary"]

# 2: partitions are a manifest only (no .list/.json beside it). Runs of format 1 resume fine.
FORMAT_VERSION = 2
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Changing any of these under a run id would mix two different migrations in one run directory.
IDENTITY_KEYS = ("source", "destination", "tool")
# These may change when a run is resumed (e.g. add --bwlimit for the night, or allow a mirror
# more deletions after reading the list it refused).
MUTABLE_KEYS = ("tool_options", "rclone_config", "verify", "symlinks", "mirror", "max_delete",
                "max_delete_share", "tolerate", "multipart", "secrets", "estimate", "transfers",
                "audit_extra")
# These shaped what the first execution made (the plan is cut with the excludes and the
# partitioning, the directories were made with the access mode): another value on resume
# would be silently ignored, so it is refused. (key, its default for runs that lack it)
FIXED_KEYS = (("excludes", []), ("run_dir_access", "private"))
FIXED_PARTITIONING = (("engine", "datamover_partition_engine"),
                      ("files", "datamover_partition_files"),
                      ("bytes", "datamover_partition_bytes"))
CANARY_PREFIX = ".datamover-canary-"
# run_dir_access -> (mode of the run's directories, umask it implies). File names are often
# sensitive: private by default; "group" lets an operator team (the directory's group) read.
# The directories alone keep others out; files written atomically also follow their
# directory (fsutil), without touching any process's umask.
ACCESS_MODES = {"private": (0o700, 0o077), "group": (0o2750, 0o027)}


def pass_kind(meta):
    """What a run does: "migration" moves data; "audit" and "plan-only" move nothing and write
    nothing at the destination. A run id is one kind for life."""
    if meta.get("plan_only"):
        return "plan-only"
    return "audit" if meta.get("audit") else "migration"


def moves_data(meta):
    return pass_kind(meta) == "migration"


_KIND_WORDS = {"migration": "a migration", "audit": "an audit (datamover_audit=true)",
               "plan-only": "a plan-only pass (datamover_plan_only=true)"}


def part_name(part_id):
    return "%06d" % int(part_id)


# --- the preflight canary: proves every worker sees the same shared dir --------------------
def _canary_path(shared_dir, nonce):
    return os.path.join(shared_dir, CANARY_PREFIX + nonce)


def write_canary(shared_dir):
    """Written once by the controller's first host; every worker must then read the nonce."""
    os.makedirs(shared_dir, exist_ok=True)
    nonce = uuid.uuid4().hex
    atomic_write_bytes(_canary_path(shared_dir, nonce), nonce.encode("ascii"))
    return nonce


def read_canary(shared_dir, nonce):
    try:
        with open(_canary_path(shared_dir, nonce), "rb") as handle:
            return handle.read().decode("ascii", "replace")
    except OSError:
        return None


def remove_canary(shared_dir, nonce):
    """Remove the canary of ``nonce`` and every host's canary of it."""
    removed = False
    for name in [CANARY_PREFIX + nonce] + [n for n in _listdir(shared_dir)
                                           if n.startswith(CANARY_PREFIX + nonce + "-")]:
        try:
            os.unlink(os.path.join(shared_dir, name))
            removed = True
        except FileNotFoundError:
            pass
    return removed


def write_host_canary(shared_dir, nonce, host):
    """Each worker's own canary of a preflight: every other worker must see it."""
    os.makedirs(shared_dir, exist_ok=True)
    atomic_write_bytes(_canary_path(shared_dir, "%s-%s" % (nonce, safe_name(host))),
                       nonce.encode("ascii"))


def host_canary_seen(shared_dir, nonce, host):
    return read_canary(shared_dir, "%s-%s" % (nonce, safe_name(host))) == nonce


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


class RunDir:
    """One run directory (``<shared_dir>/<run_id>``): the only code that names its files (the
    layout is in this module's docstring)."""

    SUBDIRS = ("parts", "state/todo", "state/claimed", "state/done", "state/failed",
               "results", "workers", "progress", "logs", "tmp")

    def __init__(self, shared_dir, run_id):
        if not RUN_ID_RE.match(run_id or ""):
            raise RunDirError(
                "run id %r is not usable: use 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit" % (run_id,))
        self.shared_dir = shared_dir
        self.run_id = run_id
        self.path = os.path.join(shared_dir, run_id)
        self._file_mode = None

    # privacy -----------------------------------------------------------------------------
    def file_mode(self):
        """The mode of every file datamover writes here: 0600 in a private run, 0640 in a
        group one (datamover_run_dir_access), whatever the writer's umask. One stat per
        process."""
        if self._file_mode is None:
            self._file_mode = file_mode_of(self.path)
        return self._file_mode

    def open_log(self, path):
        """Append to a log of this run (a tool's output, an attempt's), as private as the run."""
        return open_private(path, self.file_mode())

    def open_new(self, path):
        """Write a scratch or marker file of this run from the start, as private as the run."""
        return open_private(path, self.file_mode(), append=False)

    # paths -------------------------------------------------------------------------------
    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def manifest_path(self, part_id):
        return self.p("parts", part_name(part_id) + ".manifest")

    def log_path(self, part_id, attempt):
        return self.p("logs", "%s.%d.log" % (part_name(part_id), attempt))

    def first_log_exists(self, part_id):
        """An attempt on this partition has started before (maybe on a host now lost)."""
        return os.path.exists(self.log_path(part_id, 1))

    def tool_log_path(self, name):
        return self.p("logs", name + ".log")

    def worker_log_path(self, host):
        """A detached worker's own output (its errors when it could not run)."""
        return self.tool_log_path("worker-" + safe_name(host))

    def plan_log_path(self):
        """A detached planner's own output (the Kubernetes executor's, on the operator host)."""
        return self.tool_log_path("plan")

    def result_path(self, part_id):
        return self.p("results", part_name(part_id) + ".json")

    def workdir(self, part_id, token):
        return self.p("tmp", "%s.%s" % (part_name(part_id), token))

    def scratch_dir(self):
        """Where per-process scratch files (fpart output) go."""
        return self.p("tmp")

    def clock_path(self, host=None):
        """The file whose mtime tells this host the shared file system's time (fsutil.fs_now).
        One per host, however many processes and polls ask."""
        return self.p("tmp", "clock-" + safe_name(host or socket.gethostname()))

    def state_dir(self, state):
        return self.p("state", state)

    def relative(self, path):
        return os.path.relpath(path, self.path)

    # run.json ----------------------------------------------------------------------------
    def exists(self):
        return os.path.exists(self.p("run.json"))

    def load(self):
        meta = read_json(self.p("run.json"))
        if meta is None:
            raise RunDirError("%s has no run.json: it is not a datamover run directory "
                              "(wrong datamover_shared_dir or datamover_run_id?)" % self.path)
        if int(meta.get("format", 1)) > FORMAT_VERSION:
            raise RunDirError("run %s was written by a newer datamover.fleet (run directory "
                              "format %s; this one reads up to %d): upgrade the collection on "
                              "this host" % (self.run_id, meta.get("format"), FORMAT_VERSION))
        return meta

    def kind(self):
        """pass_kind of this run ("migration" while it has no run.json yet)."""
        return pass_kind(read_json(self.p("run.json")) or {})

    def identity_problems(self, meta):
        """Why ``meta`` cannot resume this run (empty when it can, or when the run is new)."""
        if not self.exists():
            return []
        old = self.load()
        problems = ["datamover_run_id %r belongs to a run with %s=%r (this one asks for %r): "
                    "use a new datamover_run_id, or repeat the original %s to resume that run"
                    % (self.run_id, key, old.get(key), meta.get(key), key)
                    for key in IDENTITY_KEYS if old.get(key) != meta.get(key)]
        problems += self._fixed_problems(old, meta)
        if (old.get("since") or None) != (meta.get("since") or None):
            # another since under the same id would mix two different diffs in one run
            problems.append("datamover_run_id %r is %s (this one asks for %s): use a new "
                            "datamover_run_id, or repeat datamover_since=%s to resume it" % (
                                self.run_id, "an incremental run since %r" % old["since"]
                                if old.get("since") else "a full run (no datamover_since)",
                                "datamover_since=%r" % meta["since"] if meta.get("since")
                                else "a full run", old.get("since") or "''"))
        if pass_kind(old) != pass_kind(meta):
            # an audit or a plan-only pass writes nothing at the destination, a migration
            # moves data, and a plan is the source as it was then: never one run directory
            # for two kinds
            problems.append("datamover_run_id %r belongs to %s, and this run is %s: a run id "
                            "is one kind of pass for life (a migration crawls the source afresh "
                            "when it starts); use a new datamover_run_id"
                            % (self.run_id, _KIND_WORDS[pass_kind(old)],
                               _KIND_WORDS[pass_kind(meta)]))
        return problems

    def _fixed_problems(self, old, meta):
        """Options given (not None) that differ from what the run was made with."""
        changed = [("datamover_" + key, old.get(key, default), meta[key])
                   for key, default in FIXED_KEYS
                   if meta.get(key) is not None and (old.get(key) or default) != meta[key]]
        planned, asked = old.get("partitioning") or {}, meta.get("partitioning") or {}
        changed += [(name, planned[key], asked[key]) for key, name in FIXED_PARTITIONING
                    if asked.get(key) is not None and planned.get(key) is not None
                    and planned[key] != asked[key]]
        return ["datamover_run_id %r was made with %s=%r (this one asks for %r): a resume "
                "keeps what its plan was cut and its directory made with; repeat %r, or use a "
                "new datamover_run_id" % (self.run_id, name, was, now, was)
                for name, was, now in changed]

    def create_or_check(self, meta):
        """Create the run (new id) or check that an existing run moves the same thing.

        Returns (meta, created).
        """
        if self.exists():
            problems = self.identity_problems(meta)
            if problems:
                raise RunDirError(problems[0])
            old = self.load()
            changed = {k: meta[k] for k in MUTABLE_KEYS if k in meta and old.get(k) != meta[k]}
            if meta.get("store") and not old.get("store"):  # a run created before it was kept
                old["store"] = meta["store"]
                atomic_write_json(self.p("run.json"), old)
            if changed:
                old = dict(old, **changed)
                old.setdefault("changes", []).append(dict(
                    changed, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
                atomic_write_json(self.p("run.json"), old)
            return old, False
        os.makedirs(self.shared_dir, exist_ok=True)
        dir_mode = ACCESS_MODES[meta.get("run_dir_access") or "private"][0]
        for sub in ("",) + self.SUBDIRS:
            os.makedirs(self.p(sub), mode=dir_mode & 0o777, exist_ok=True)
        for sub in ("", "state") + self.SUBDIRS:  # whatever the umask of this process
            os.chmod(self.p(sub), dir_mode)
        meta = dict(meta, run_id=self.run_id, format=FORMAT_VERSION,
                    created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        # run.json last: its presence means the skeleton is complete.
        atomic_write_json(self.p("run.json"), meta)
        return meta, True

    # plan --------------------------------------------------------------------------------
    def plan(self):
        return read_json(self.p("plan.json"))

    def plan_complete(self):
        return os.path.exists(self.p("plan.json"))

    def write_plan(self, plan):
        atomic_write_json(self.p("plan.json"), plan)
        QUEUE_CHANGED.notify()  # idle slots of this process: the plan is complete

    def plan_failed(self):
        """The recorded planning failure ({"error", "time"}), or None."""
        return read_json(self.p("plan.failed"))

    def mark_plan_failed(self, error):
        atomic_write_json(self.p("plan.failed"), {"error": error, "time": time.time()})
        QUEUE_CHANGED.notify()

    def clear_leftovers(self):
        """A new execution of the run: forget the STOP and plan failure of an earlier one."""
        for leftover in ("STOP", "plan.failed"):
            try:
                os.unlink(self.p(leftover))
            except FileNotFoundError:
                pass

    # partitions --------------------------------------------------------------------------
    def has_manifest(self, part_id):
        return os.path.exists(self.manifest_path(part_id))

    def write_manifest(self, part_id, data):
        atomic_write_bytes(self.manifest_path(part_id), data)

    def read_manifest(self, part_id):
        """[(kind, size, mtime_ns, relpath_bytes)] for each entry of a partition."""
        return self.read_partition(part_id)[0]

    def dirs_path(self, part_id):
        return self.p("parts", part_name(part_id) + ".dirs")

    def write_dir_identities(self, part_id, idents):
        """{relpath: (on_root_fs, st_ino)} of the directories a partition moves from. Not the
        device number itself: a network mount's number differs between hosts and remounts.
        Before its manifest: a partition whose manifest exists has its identities too."""
        atomic_write_bytes(self.dirs_path(part_id), b"".join(
            b"%d %d\t%s\0" % (int(same), ino, rel) for rel, (same, ino) in sorted(idents.items())))

    def read_dir_identities(self, part_id):
        """What write_dir_identities wrote, or {} (an fpart plan, a run before 0.4)."""
        try:
            with open(self.dirs_path(part_id), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return {}
        out = {}
        for record in data.split(b"\0"):
            if record:
                head, _tab, rel = record.partition(b"\t")
                same, ino = head.split(b" ")
                out[rel] = (same == b"1", int(ino))
        return out

    # the source root's identity (plan/source_identity.py) -----------------------------------
    def source_identity(self):
        return read_json(self.p("source.json"))

    def write_source_identity(self, ident):
        atomic_write_json(self.p("source.json"), ident)

    def read_partition(self, part_id):
        """(entries, whole_dirs, trees): the entries as read_manifest, the directories whose
        whole content is in this partition, and those whose whole subtree is."""
        with open(self.manifest_path(part_id), "rb") as handle:
            return read_manifest_bytes(handle.read())

    # complete manifests (incremental runs) ----------------------------------------------------
    def source_manifest_path(self):
        return self.p("source.manifest")

    def deletions_path(self):
        return self.p("deletions.manifest")

    def special_path(self):
        """Every special file the crawl left out (NUL-terminated paths): not-copied.jsonl
        names each one, however many (plan.json keeps a sample)."""
        return self.p("special.list")

    def complete_manifest_files(self):
        """The files that together describe the whole source as this run crawled it, in crawl
        order: source.manifest for an incremental run, else every partition's manifest."""
        if os.path.exists(self.source_manifest_path()):
            return [self.source_manifest_path()]
        plan = self.plan() or {}
        return [self.manifest_path(i) for i in range(1, int(plan.get("parts") or 0) + 1)]

    def stream_writer(self, path):
        """A file written in pieces and published whole (rename) by commit()."""
        return StreamFile(path, self.file_mode())

    # results -----------------------------------------------------------------------------
    def read_result(self, part_id):
        data = read_json(self.result_path(part_id))
        return PartResult.from_dict(data) if data else None

    def write_result(self, result):
        atomic_write_json(self.result_path(result.part), result.to_dict())

    # workers -----------------------------------------------------------------------------
    def write_worker(self, host, record):
        atomic_write_json(self.p("workers", safe_name(host) + ".json"), record)

    def worker_count(self):
        """How many workers have joined the run (one listing, no record read)."""
        return sum(1 for name in _listdir(self.p("workers")) if name.endswith(".json"))

    def workers(self):
        """[(record, mtime)] of every worker that has written its record."""
        out = []
        for name in sorted(os.listdir(self.p("workers"))):
            if not name.endswith(".json"):
                continue
            path = self.p("workers", name)
            rec = read_json(path)
            try:
                mtime = os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            out.append((rec or {}, mtime))
        return out

    # live progress -----------------------------------------------------------------------
    def _progress_path(self, host):
        return self.p("progress", safe_name(host) + ".json")

    def write_progress(self, host, record):
        """Overwrite this host's progress record in place: once a second, no temp file, no
        fsync. A reader that catches a write half done skips the record until the next."""
        os.makedirs(self.p("progress"), exist_ok=True)  # runs created before this existed
        data = json.dumps(record, sort_keys=True).encode("utf-8")
        fd = os.open(self._progress_path(host), os.O_WRONLY | os.O_CREAT, self.file_mode())
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)

    def progress(self):
        """{host: record} of every worker's progress record that reads whole."""
        out = {}
        for name in _listdir(self.p("progress")):
            if name.endswith(".json"):
                try:
                    rec = read_json(self.p("progress", name))
                except ValueError:
                    continue  # caught mid-write
                if isinstance(rec, dict) and rec.get("host"):
                    out[rec["host"]] = rec
        return out

    # the controller lock (runlock.py) ----------------------------------------------------
    def controller_lock_path(self):
        return self.p("controller.lock")

    # stop --------------------------------------------------------------------------------
    def stop_requested(self):
        return os.path.exists(self.p("STOP"))

    def stop_record(self):
        """{"reason", "time"} of the STOP file (a bare ``touch`` has neither), or None."""
        try:
            with open(self.p("STOP"), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(data.decode("utf-8")) if data.strip() else {}
        except ValueError:
            record = {}
        if not isinstance(record, dict):
            record = {}
        if not record.get("time"):
            try:
                record["time"] = os.stat(self.p("STOP")).st_mtime
            except FileNotFoundError:
                return None
        record.setdefault("reason", "a STOP file was placed in the run directory")
        record["path"] = self.p("STOP")
        return record

    def request_stop(self, reason="stop requested"):
        atomic_write_json(self.p("STOP"), {"reason": reason, "time": time.time()})

    # the Kubernetes executor's guard -----------------------------------------------------
    def guard_paths(self):
        """(heartbeat, done): the watch touches the first; the play's cleanup writes the
        second; the guard deletes the Job when the first goes stale without the second."""
        return self.p("kubernetes", "alive"), self.p("kubernetes", "done")

    def guard_log_path(self):
        """The detached guard's output: what it deleted when the play was gone, or why not."""
        return self.p("kubernetes", "guard.log")

    # credentials -------------------------------------------------------------------------
    def write_secrets(self, env):
        """Environment variables with credentials, readable by the run's user only."""
        private = self.p("private")
        os.makedirs(private, mode=0o700, exist_ok=True)
        os.chmod(private, 0o700)
        atomic_write_json(os.path.join(private, "secrets.json"), env, mode=0o600)

    def read_secrets(self):
        return read_json(self.p("private", "secrets.json")) or {}

    def wait_secrets(self, count, timeout):
        """The credentials, once the file holds ``count`` of them (run.json's "secrets"): a
        worker that starts beside the host opening the run waits for it to write them (they
        are removed at the end of every execution). What there is after ``timeout``."""
        deadline = time.time() + float(timeout or 0)
        while True:
            env = self.read_secrets()
            if len(env) >= int(count or 0) or time.time() >= deadline:
                return env
            time.sleep(0.1)

    def remove_secrets(self):
        """The end of an execution (the play's, on failure too): credentials must not outlive
        it on the shared file system. A resume writes them again from the user's input."""
        try:
            os.unlink(self.p("private", "secrets.json"))
        except FileNotFoundError:
            return False
        try:
            os.rmdir(self.p("private"))
        except OSError:
            pass
        return True

    # report ------------------------------------------------------------------------------
    def report_paths(self):
        return self.p("report.json"), self.p("report.md")

    def html_report_path(self):
        return self.p("report.html")

    def write_uploads(self, record):
        """What the end of the run did about multipart uploads left at the destination."""
        atomic_write_json(self.p("uploads.json"), record)

    def read_uploads(self):
        return read_json(self.p("uploads.json"))

    def audit_extra_claim_path(self):
        """Created (O_EXCL) by the one worker that lists the destination for extras."""
        return self.p("audit-extra.claimed")

    def audit_extra_list_path(self):
        """datamover_audit_extra: every name at the destination the source lacks."""
        return self.p("extra-at-destination.jsonl")

    def write_audit_extra(self, record):
        atomic_write_json(self.p("audit-extra.json"), record)

    def read_audit_extra(self):
        return read_json(self.p("audit-extra.json"))

    def not_copied_path(self):
        """The complete list of files not copied, named by report.json (report.py writes it)."""
        return self.p("not-copied.jsonl")


class StreamFile:
    """Append-only, published by rename on commit(): a reader never sees half a manifest."""

    def __init__(self, path, mode=0o600):
        self.path = path
        name = ".tmp-%s-%s" % (os.path.basename(path), uuid.uuid4().hex[:12])
        self.tmp = os.path.join(os.path.dirname(path), name)
        self.handle = open_private(self.tmp, mode, append=False, buffering=1 << 20)
        self.write = self.handle.write

    def commit(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.rename(self.tmp, self.path)

    def abort(self):
        self.handle.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def iter_records(paths, chunk=1 << 20):
    """Stream the NUL-terminated records of manifest files, in order, in bounded memory."""
    for path in paths:
        with open(path, "rb") as handle:
            tail = b""
            while True:
                data = handle.read(chunk)
                if not data:
                    break
                records = (tail + data).split(b"\0")
                tail = records.pop()
                for record in records:
                    if record:
                        yield record
            if tail:
                yield tail


def safe_name(text):
    """A host name as a word safe in a file name (worker records, canaries, claim tokens)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:80] or "host"

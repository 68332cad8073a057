# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worker loop as a command, without Ansible: what a Kubernetes pod runs, or a person.

    python -m ansible_collections.datamover.fleet.plugins.module_utils.work.worker_cli \\
        --shared-dir /lst/datamover --run-id ckpt-2026-11 --worker "$(hostname)" --slots 4

(with the directory that holds ``ansible_collections/`` on PYTHONPATH). The run must exist
(the play's plan step creates it); this joins it like any worker host: N slots claiming
partitions, leases, retries, verification.

Exit codes (the Job's podFailurePolicy keys on them):
  0  the queue is drained (every partition done or failed; the report says which failed)
  1  the worker crashed or stopped on a signal with work left: running it again may help
  2  it cannot work on this run (no run directory, tool missing, bad arguments): it will not
     get better by restarting
  3  a STOP file asked every worker to stop
The last line on stderr says why when the code is not 0; the pod's termination message
carries it.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import (
    EXIT_CRASHED,
    EXIT_DRAINED,
    EXIT_STOPPED,
    EXIT_UNUSABLE,
    add_cli_arguments,
    worker_kwargs,
)
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker


def build_parser():
    ap = argparse.ArgumentParser(
        prog="python -m ansible_collections.datamover.fleet.plugins.module_utils.work.worker_cli",
        description="Join a datamover run as one worker and move partitions until the queue "
                    "is drained.")
    env = os.environ.get
    ap.add_argument("--shared-dir", default=env("DATAMOVER_SHARED_DIR"),
                    help="directory holding the runs (every worker mounts it at the same path)")
    ap.add_argument("--run-id", default=env("DATAMOVER_RUN_ID"), help="the run to join")
    ap.add_argument("--worker", default=env("DATAMOVER_WORKER") or socket.gethostname(),
                    help="this worker's name, unique in the run (a pod: its pod name)")
    add_cli_arguments(ap)
    return ap


def _fail(worker, code, message):
    # One line: it becomes the pod's termination message and the watch quotes it.
    sys.stderr.write("datamover worker %s: %s\n" % (worker, " ".join(str(message).split())))
    return code


def main(argv=None):
    args = build_parser().parse_args(argv)
    name = args.worker
    if not args.shared_dir or not args.run_id:
        return _fail(name, EXIT_UNUSABLE, "--shared-dir and --run-id are required")
    index = os.environ.get("JOB_COMPLETION_INDEX")
    sys.stderr.write("datamover worker %s%s: joining run %s in %s with %d slots\n" % (
        name, " (index %s)" % index if index is not None else "", args.run_id, args.shared_dir,
        args.slots))
    try:
        rundir = RunDir(args.shared_dir, args.run_id)
        worker = Worker(rundir, name, **worker_kwargs(vars(args)))
    except Exception as exc:  # cannot even start: restarting the pod will not help
        return _fail(name, EXIT_UNUSABLE, exc)
    started = time.time()
    try:
        totals = worker.run()
    except Exception as exc:
        return _fail(name, EXIT_CRASHED, "crashed: %s: %s" % (type(exc).__name__, exc))
    counts = totals.get("counts") or {}
    left = counts.get("todo", 0) + counts.get("claimed", 0)
    sys.stdout.write(json.dumps(dict(totals, seconds=round(time.time() - started, 3)),
                                sort_keys=True) + "\n")
    sys.stdout.flush()
    if totals.get("stopped"):
        return _fail(name, EXIT_STOPPED, "stopped by the STOP file with %d partitions left; "
                                         "re-run the play with the same run id to resume" % left)
    if left:
        return _fail(name, EXIT_CRASHED, "stopped with %d partitions not settled (todo %d, "
                                         "claimed %d): a signal, or the plan failed" % (
                                             left, counts.get("todo", 0),
                                             counts.get("claimed", 0)))
    return EXIT_DRAINED


if __name__ == "__main__":
    raise SystemExit(main())

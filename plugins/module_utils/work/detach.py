# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a host's worker loop as a detached process, instead of as an Ansible async job.

Ansible's async costs a task a temp directory made and removed by shell commands, the module
and async_wrapper copied there, and one more Python process (the wrapper) before the module's
own: measured ~0.85 s of a 1-file run's ~2.6 s. The worker module instead copies the code it
runs from (its AnsiballZ payload, which Ansible deletes when the module returns) into a
private directory, starts a session-leader child on it and returns its pid.

The child reads its parameters as JSON on stdin (never argv: nothing in ``ps``), runs the same
loop the async module ran, stops itself at its deadline (what async's timeout did), writes a
``crashed`` worker record with the error when it cannot run (the watch reports it), keeps its
stderr in ``logs/worker-<host>.log`` of the run, and removes its private directory on exit.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile

from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
from ansible_collections.datamover.fleet.plugins.module_utils.work.settings import worker_kwargs
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import Worker, plan_and_work

_PACKAGE = "ansible_collections"
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from ansible_collections.datamover.fleet.plugins.module_utils.work.detach import child_main; "
         "sys.exit(child_main(sys.argv[2]))")


def code_root(module_file=__file__):
    """The zip file or directory that holds this ``ansible_collections`` package."""
    path = os.path.abspath(module_file)
    marker = os.sep + _PACKAGE + os.sep
    root = path[: path.rindex(marker)] if marker in path else None
    if root is None:
        raise RuntimeError("cannot find the %s package above %s" % (_PACKAGE, path))
    return root


_PREFIX = "datamover-worker-"


def _private_copy(root):
    """A private directory holding the code (a copy of the payload zip when there is one)."""
    remove_orphans()
    private = tempfile.mkdtemp(prefix=_PREFIX)
    if os.path.isfile(root) and zipfile.is_zipfile(root):
        target = os.path.join(private, "payload.zip")
        shutil.copyfile(root, target)
        return private, target
    return private, root  # a checkout or an exploded module: its directory stays


def spawn(params):
    """Start the worker for ``params`` (the worker module's parameters) in the background.

    Returns (pid, private_dir). The child's stdin gets the parameters and is closed; its
    stdout and stderr go to a file in its private directory until the run directory exists.
    """
    private, path_entry = _private_copy(code_root())
    log = open(os.path.join(private, "worker.log"), "wb")
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", _BOOT, path_entry, private],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=private,
            start_new_session=True, close_fds=True)
    except OSError:
        log.close()
        shutil.rmtree(private, ignore_errors=True)
        raise
    log.close()
    with open(os.path.join(private, "pid"), "w") as handle:
        handle.write("%d\n" % proc.pid)
    proc.stdin.write(json.dumps(params).encode("utf-8"))
    proc.stdin.close()
    return proc.pid, private


def child_main(private):
    """The detached worker: parameters on stdin, exit code 0 when the loop ended normally."""
    params = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin.close()
    rundir = RunDir(params["shared_dir"], params["run_id"])
    host = params.get("host") or socket.gethostname()
    timeout = float(params.get("timeout") or 0)
    if timeout > 0:
        # The worker's SIGTERM handler stops its slots and gives their partitions back.
        timer = threading.Timer(timeout, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    code = 0
    try:
        run_worker(rundir, params)
    except BaseException as exc:  # pylint: disable=broad-except
        code = 1
        traceback.print_exc()
        _record_crash(rundir, host, exc)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _keep_log(rundir, host, private)
        shutil.rmtree(private, ignore_errors=True)
    return code


def run_worker(rundir, p):
    """The loop of one host: the planning host crawls in a thread while its slots work."""
    kwargs = worker_kwargs(p)
    if p.get("plan") is None:
        return Worker(rundir, p["host"], **kwargs).run()
    return plan_and_work(rundir, p["host"], p["plan"], opened=p.get("opened"), **kwargs)


def _record_crash(rundir, host, exc):
    if not rundir.exists():
        return
    now = time.time()
    try:
        rundir.write_worker(host, dict(host=host, hostname=socket.gethostname(), pid=os.getpid(),
                                       status="crashed", rc=1, updated=now, started=now,
                                       error="%s: %s" % (type(exc).__name__, exc)))
    except OSError:
        pass


def _keep_log(rundir, host, private):
    """Move a non-empty log into the run's logs/ (the watch names it when a worker crashed)."""
    src = os.path.join(private, "worker.log")
    try:
        target = rundir.worker_log_path(host)
        if os.path.getsize(src) and os.path.isdir(os.path.dirname(target)):
            with open(src, "rb") as handle, rundir.open_new(target) as out:
                shutil.copyfileobj(handle, out)
    except OSError:
        pass


def remove_orphans(tmpdir=None):
    """Remove the private directories of detached workers that were killed (SIGKILL, a lost
    host) and could not remove their own. Returns how many were removed."""
    tmpdir = tmpdir or tempfile.gettempdir()
    removed = 0
    for name in os.listdir(tmpdir):
        if not name.startswith(_PREFIX):
            continue
        path = os.path.join(tmpdir, name)
        try:
            with open(os.path.join(path, "pid")) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue  # being created, or not ours: left alone
        if not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

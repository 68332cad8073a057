# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a program as a detached process, instead of as an Ansible async job.

Ansible's async costs a task a temp directory made and removed by shell commands, the module
and async_wrapper copied there, and one more Python process (the wrapper) before the module's
own: measured ~0.85 s of a 1-file run's ~2.6 s. A module instead copies the code it runs from
(its AnsiballZ payload, which Ansible deletes when the module returns) into a private
directory, starts a session-leader child on it and returns its pid.

What the child runs is a ``Program``, named by its class (``spawn(params, program)``): a host's
worker loop (``WorkerProgram``, SSH hosts), the Kubernetes executor's guard and planner
(k8s/guard.py, plan/background.py). This file is the one owner of the machinery: the child
reads its parameters as JSON on stdin (never argv: nothing in ``ps``), runs the program, stops
itself at its deadline (what async's timeout did: SIGTERM, which the program sees as
``SystemExit``), records why it could not run through the program's ``crashed`` (the watch
reports it), keeps its output in the run directory (the program's ``log_path``) when it has
any, and removes its private directory on exit. A ``supervised`` program runs in a forked
child of the session leader, which records a death by a signal (SIGKILL, the OOM killer) the
way async_wrapper reported a module that died.
"""
from __future__ import annotations

import importlib
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
         "sys.exit(child_main(sys.argv[2], sys.argv[3]))")


def code_root(module_file=__file__):
    """The zip file or directory that holds this ``ansible_collections`` package."""
    path = os.path.abspath(module_file)
    marker = os.sep + _PACKAGE + os.sep
    root = path[: path.rindex(marker)] if marker in path else None
    if root is None:
        raise RuntimeError("cannot find the %s package above %s" % (_PACKAGE, path))
    return root


_PREFIX = "datamover-"  # + the program's name + "-": one private directory per process


class Program:
    """What a detached process runs. A subclass is named by its module and class, which the
    child imports: it must live in ``module_utils`` (in every payload that spawns it)."""

    name = "program"  # in the private directory's name and the process's arguments
    supervised = False  # run in a forked child, so that a death by a signal is recorded

    def run(self, params):
        raise NotImplementedError

    def crashed(self, params, error):
        """Record ``error`` (a one-line message) where the play looks for it."""

    def log_path(self, rundir, params):
        """Where in ``rundir`` the process's non-empty output is kept (when its directory
        exists), or None."""
        return None


class WorkerProgram(Program):
    """A host's worker loop (the worker module's parameters); the planning host crawls too."""

    name = "worker"

    def run(self, params):
        run_worker(RunDir(params["shared_dir"], params["run_id"]), params)

    def crashed(self, params, error):
        _record_crash(RunDir(params["shared_dir"], params["run_id"]), _host(params), error)

    def log_path(self, rundir, params):
        return rundir.worker_log_path(_host(params))


def _host(params):
    return params.get("host") or socket.gethostname()


def program_path(program):
    return "%s:%s" % (program.__module__, program.__name__)


def _private_copy(root, name):
    """A private directory holding the code (a copy of the payload zip when there is one)."""
    remove_orphans()
    private = tempfile.mkdtemp(prefix=_PREFIX + name + "-")
    if os.path.isfile(root) and zipfile.is_zipfile(root):
        target = os.path.join(private, "payload.zip")
        shutil.copyfile(root, target)
        return private, target
    return private, root  # a checkout or an exploded module: its directory stays


def spawn(params, program=WorkerProgram):
    """Start ``program`` (a Program subclass) on ``params`` in the background.

    Returns (pid, private_dir). The child's stdin gets the parameters and is closed; its
    stdout and stderr go to a file in its private directory, kept at the end (log_path).
    """
    private, path_entry = _private_copy(code_root(), program.name)
    log = open(os.path.join(private, "output.log"), "wb")
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", _BOOT, path_entry, private, program_path(program)],
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


def _load(path):
    module, _sep, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def _on_sigterm(_signum, _frame):
    """SIGTERM (the deadline, or a play that ended) unwinds the program's finally blocks."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up is not interrupted
    raise SystemExit("stopped by SIGTERM (its deadline, or the play ended)")


def child_main(private, path):
    """The detached process: parameters on stdin, exit code 0 when the program ended normally."""
    params = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin.close()
    program = _load(path)
    try:
        code = _supervise(program, params) if program.supervised else _run(program, params)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _keep_log(program, params, os.path.join(private, "output.log"))
        shutil.rmtree(private, ignore_errors=True)
    return code


def _run(program, params):
    signal.signal(signal.SIGTERM, _on_sigterm)  # a program may install its own (the worker)
    timeout = float(params.get("timeout") or 0)
    if timeout > 0:
        timer = threading.Timer(timeout, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    try:
        program.run(params)
    except BaseException as exc:  # pylint: disable=broad-except
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        traceback.print_exc()
        program.crashed(params, "%s: %s" % (type(exc).__name__, exc))
        return 1
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0


def _supervise(program, params):
    """Run the program in a forked child; record its death by a signal, which it cannot."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # until the child is known
    child = os.fork()
    if child == 0:  # the program
        code = 1
        try:
            code = _run(program, params)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # pylint: disable=protected-access
    signal.signal(signal.SIGTERM, lambda _s, _f: os.kill(child, signal.SIGTERM))
    status = os.waitpid(child, 0)[1]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        error = "killed by signal %d%s" % (
            sig, " (SIGKILL: out of memory, or kill -9)" if sig == signal.SIGKILL else "")
        sys.stdout.write("datamover: the %s process (pid %d) was %s\n" % (program.name, child, error))
        program.crashed(params, "the %s process was %s" % (program.name, error))
        return 1
    return os.WEXITSTATUS(status)


def run_worker(rundir, p):
    """The loop of one host: the planning host crawls in a thread while its slots work."""
    kwargs = worker_kwargs(p)
    if p.get("plan") is None:
        return Worker(rundir, p["host"], **kwargs).run()
    return plan_and_work(rundir, p["host"], p["plan"], opened=p.get("opened"), **kwargs)


def _record_crash(rundir, host, error):
    if not rundir.exists():
        return
    now = time.time()
    try:
        rundir.write_worker(host, dict(host=host, hostname=socket.gethostname(), pid=os.getpid(),
                                       status="crashed", rc=1, updated=now, started=now,
                                       error=error))
    except OSError:
        pass


def _keep_log(program, params, src):
    """Move a non-empty log into the run directory (the watch names it when a program crashed)."""
    rundir = RunDir(params["shared_dir"], params["run_id"])
    try:
        target = program.log_path(rundir, params)
        if target and os.path.getsize(src) and os.path.isdir(os.path.dirname(target)):
            with open(src, "rb") as handle, rundir.open_new(target) as out:
                shutil.copyfileobj(handle, out)
    except OSError:
        pass


def remove_orphans(tmpdir=None):
    """Remove the private directories of detached processes that were killed (SIGKILL, a lost
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


def running(pid, program):
    """Whether ``pid`` is still a detached ``program`` (a Program subclass): not ended, not a
    zombie, and not a pid the system gave to another process since (its arguments name the
    program). Without /proc, whether the pid is alive."""
    if not pid or not pid_alive(pid):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    argv = _cmdline(int(pid))
    for _attempt in range(50):  # empty a moment after an exec (spawn has just returned)
        if argv != b"":
            break
        time.sleep(0.02)
        argv = _cmdline(int(pid))
    return bool(argv) and program_path(program).encode("utf-8") in argv.split(b"\0")


def _cmdline(pid):
    """A live process's arguments (empty for a moment during an exec), None when it has
    ended (a zombie included: its parent has not reaped it)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[0]
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read()
    except (OSError, IndexError):
        return None
    return None if state == b"Z" else argv


def end(pid, program, wait=10.0, stop_wait=10.0, poll=0.1):
    """Let a detached program end by itself for up to ``wait`` seconds, then stop it (SIGTERM
    to its process group - it leads one -, so the tools it started stop too: it unwinds,
    records why, keeps its log and removes its private directory) and wait up to ``stop_wait``
    seconds. Returns "ended" (by itself, or it had), "stopped", or "running"."""
    if _ended(pid, program, wait, poll):
        return "ended"
    try:
        os.killpg(int(pid), signal.SIGTERM)
    except OSError:
        pass
    return "stopped" if _ended(pid, program, stop_wait, poll) else "running"


def _ended(pid, program, wait, poll):
    deadline = time.time() + wait
    while running(pid, program):
        if time.time() >= deadline:
            return False
        time.sleep(poll)
    return True

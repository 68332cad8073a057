"""Issue 22: a plan-only pass over a million entries, through the playbook.

Makes (once) a tree of 999,000 small files in 1,000 directories (log-normal sizes, every 50th
empty), 8 x 64 MiB checkpoint shards and one hard link under WORK (default /work/plan1m: a
disk, not tmpfs: about 4 GiB with the page per file), starts SeaweedFS S3 on 127.0.0.1, runs
playbooks/migrate.yml on inventories/local (2 workers x 2 slots) with datamover_plan_only=true,
prices and rates, and prints the play's time, its summary, report.json's totals and histogram,
and the size of the run directory.

    python bench/plan_only_million.py [WORK]
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.lab.seaweed import SeaweedS3  # noqa: E402

PRICES = {"currency": "USD", "per_1000_writes": 0.005, "per_1000_lists": 0.005,
          "per_gb_month": 0.0255}


def make_tree(src):
    rnd = random.Random(1)
    for d in range(1000):
        folder = os.path.join(src, "proj%02d" % (d // 100), "run%03d" % d)
        os.makedirs(folder, exist_ok=True)
        for f in range(999):
            size = min(int(rnd.lognormvariate(6, 1.5)), 1 << 20) if f % 50 else 0
            with open(os.path.join(folder, "f%04d.dat" % f), "wb") as handle:
                handle.write(b"\0" * size)
    shards = os.path.join(src, "checkpoints")
    os.makedirs(shards, exist_ok=True)
    for i in range(8):
        with open(os.path.join(shards, "shard-%d.pt" % i), "wb") as handle:
            handle.write(os.urandom(1 << 20) * 64)
    os.link(os.path.join(shards, "shard-0.pt"), os.path.join(shards, "shard-0.link.pt"))


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "/work/plan1m"
    src, shared = os.path.join(work, "src"), os.path.join(work, "shared")
    if not os.path.exists(os.path.join(work, "made")):
        started = time.time()
        make_tree(src)
        open(os.path.join(work, "made"), "w").close()
        print("tree made in %.1f s" % (time.time() - started), flush=True)
    os.makedirs(shared, exist_ok=True)
    server = SeaweedS3(bucket="plan", workdir=os.path.join(work, "seaweedfs-%d" % os.getpid()))
    server.start()
    try:
        conf = server.write_rclone_config(os.path.join(work, "rclone.conf"), remote="plan")
        run_id = "plan1m-" + time.strftime("%H%M%S")
        bindir = os.path.dirname(sys.executable)
        argv = [os.path.join(bindir, "ansible-playbook"), os.path.join(ROOT, "playbooks", "migrate.yml"),
                "-i", os.path.join(ROOT, "inventories", "local"),
                "-e", "datamover_source=" + src, "-e", "datamover_destination=plan:plan/ml",
                "-e", "datamover_tool=rclone", "-e", "datamover_shared_dir=" + shared,
                "-e", "datamover_rclone_config=" + conf, "-e", "datamover_run_id=" + run_id,
                "-e", "datamover_plan_only=true", "-e", json.dumps({"datamover_prices": PRICES}),
                "-e", "datamover_plan_bytes_per_second=1000000000",
                "-e", "datamover_plan_files_per_second=5000"]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
                   PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        started = time.time()
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        print("playbook rc=%d in %.1f s" % (done.returncode, time.time() - started))
        at = done.stdout.find("Report | summary")
        print(done.stdout[at:at + 3000] if at >= 0 else done.stdout[-3000:])
        report = json.load(open(os.path.join(shared, run_id, "report.json")))
        print(json.dumps({k: report[k] for k in ("files", "seconds", "partitions", "planned")}))
        print(json.dumps(report["plan_only"]["histogram"]))
        print(subprocess.run(["du", "-sh", os.path.join(shared, run_id)], capture_output=True,
                             text=True, check=False).stdout)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""Issue 23: T2's worker phase in-process (plan_and_work, 4 slots) for several shares of the
partitions' growing byte cap (partitioner.SHARES_PER_SLOT), a fixed 64 MiB cap, and one
`rsync -a`, alternating, medians. No Ansible: the partitioning alone is compared.

    python bench/cap_shares.py TREE [REPS]    # TREE: bench's T2, e.g. <bench dir>/trees/t2
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults  # noqa: E402
from ansible_collections.datamover.fleet.plugins.module_utils.plan import partitioner  # noqa: E402
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir  # noqa: E402
from ansible_collections.datamover.fleet.plugins.module_utils.work.worker import plan_and_work  # noqa: E402

SLOTS = 4


def main():
    src, reps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    work = tempfile.mkdtemp(prefix="dm-cap-shares-", dir="/dev/shm")
    shared, dst = os.path.join(work, "shared"), os.path.join(work, "dst")

    def ours(shares, pbytes=10 << 30):
        def run():
            partitioner.SHARES_PER_SLOT = shares
            shutil.rmtree(shared, ignore_errors=True)
            shutil.rmtree(dst, ignore_errors=True)
            t0 = time.perf_counter()
            out = plan_and_work(RunDir(shared, "r"), "h", plan_defaults(
                source=src, destination=dst, tool="rsync", fleet_slots=SLOTS,
                partition_bytes=pbytes), slots=SLOTS)
            return time.perf_counter() - t0, out["plan"]["parts"]
        return run

    def rsync():
        shutil.rmtree(dst, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(["rsync", "-a", src + "/", dst + "/"], check=True)
        return time.perf_counter() - t0, 1

    contenders = {"share 1/(4 x slots)": ours(4), "share 1/(2 x slots)": ours(2),
                  "share 1/(8 x slots)": ours(8), "fixed 64 MiB": ours(4, pbytes=64 << 20),
                  "rsync -a": rsync}
    times, parts = {k: [] for k in contenders}, {}
    try:
        for rep in range(reps):
            labels = list(contenders)
            for label in labels[rep % len(labels):] + labels[:rep % len(labels)]:
                seconds, parts[label] = contenders[label]()
                times[label].append(seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for label, values in times.items():
        print("%-22s median %.2f s  partitions %d  %s" % (
            label, statistics.median(values), parts[label], [round(v, 2) for v in values]))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`make demo`: a real migration on this machine.

Generates a sample tree (~20,000 files, bytes to tens of MiB, nested directories), starts a
SeaweedFS S3 server on 127.0.0.1, and runs playbooks/migrate.yml with inventories/local
(this machine as 2 workers x 2 slots) into its bucket with rclone. Prints progress and a
summary, says where the report is, and stops the server it started.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.lab.seaweed import SeaweedS3  # noqa: E402
from tests.lab.trees import sample_tree  # noqa: E402


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return "%.1f %s" % (n, unit)
        n /= 1024.0
    return "%.1f GiB" % n


def main():
    work = os.environ.get("DATAMOVER_DEMO_DIR", os.path.join(ROOT, ".build", "demo"))
    src = os.path.join(work, "source")
    shared = os.path.join(work, "shared")
    os.makedirs(shared, exist_ok=True)
    marker = os.path.join(work, "source.json")
    if not os.path.exists(marker):
        print("demo: generating a sample tree in %s ..." % src, flush=True)
        files, nbytes = sample_tree(src, files=20000)
        with open(marker, "w") as handle:
            json.dump({"files": files, "bytes": nbytes}, handle)
    with open(marker) as handle:
        tree = json.load(handle)
    print("demo: source %s: %d files, %s" % (src, tree["files"], human(tree["bytes"])), flush=True)

    server = SeaweedS3(bucket="demo", workdir=os.path.join(work, "seaweedfs-%d" % os.getpid()))
    print("demo: starting SeaweedFS S3 on 127.0.0.1 ...", flush=True)
    server.start()
    try:
        conf = server.write_rclone_config(os.path.join(work, "rclone.conf"), remote="demo")
        run_id = "demo-" + time.strftime("%Y%m%dT%H%M%S")
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                os.path.join(ROOT, "playbooks", "migrate.yml"),
                "-i", os.path.join(ROOT, "inventories", "local"),
                "-e", "datamover_source=" + src,
                "-e", "datamover_destination=demo:demo/" + run_id,
                "-e", "datamover_tool=rclone",
                "-e", "datamover_shared_dir=" + shared,
                "-e", "datamover_rclone_config=" + conf,
                "-e", "datamover_run_id=" + run_id,
                "-e", "datamover_watch_interval=3"]
        print("demo: $ " + " ".join(argv), flush=True)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
        rc = subprocess.call(argv, cwd=ROOT, env=env)
        report_path = os.path.join(shared, run_id, "report.json")
        if os.path.exists(report_path):
            with open(report_path) as handle:
                rep = json.load(handle)
            print("")
            print("=" * 72)
            print("datamover demo: run %s %s" % (run_id, rep["status"].upper()))
            print("  files       %d" % rep["files"])
            print("  bytes       %d (%s)" % (rep["bytes"], human(rep["bytes"])))
            print("  partitions  %d done / %d total, %d failed" % (
                rep["partitions"]["done"], rep["partitions"]["total"], rep["partitions"]["failed"]))
            print("  elapsed     %.1f s" % rep["seconds"])
            print("  throughput  %s files/s, %s/s" % (rep["files_per_second"],
                                                     human(rep["bytes_per_second"] or 0)))
            print("  verified    %d files, %s, %d mismatches" % (
                rep["verified"]["files"], human(rep["verified"]["bytes"]),
                rep["verified"]["mismatches"]))
            for host, row in sorted(rep["workers"].items()):
                print("  %-10s  %d partitions, %d files, %s" % (host, row["partitions"], row["files"],
                                                            human(row["bytes"])))
            print("  report      %s" % report_path)
            print("              %s" % report_path.replace(".json", ".md"))
            print("=" * 72)
        return rc
    finally:
        print("demo: stopping SeaweedFS", flush=True)
        server.stop()


if __name__ == "__main__":
    sys.exit(main())

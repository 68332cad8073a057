"""Small helpers shared by the unit tests: trees, run directories, scripts."""
from __future__ import annotations

import hashlib
import os
import stat

from ansible_collections.datamover.fleet.plugins.module_utils.args_common import plan_defaults
from ansible_collections.datamover.fleet.plugins.module_utils.plan.planning import make_plan
from ansible_collections.datamover.fleet.plugins.module_utils.run.rundir import RunDir


def write(path, data=b""):
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def write_script(path, body):
    """An executable /bin/sh script."""
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return str(path)


# sh: append the paths an rsync invocation moves (its sources after "--", the part below the
# "/./" anchor, NUL-terminated) to the file named by $RECORD, then go on with "$@" unchanged.
RECORD_RSYNC_PATHS = (
    'seen=""; n=$#; i=0\n'
    'for a in "$@"; do i=$((i+1)); if [ -n "$seen" ] && [ $i -lt $n ]; then '
    'printf \'%s\\000\' "${a#*/./}" >> "$RECORD"; fi; [ "$a" = "--" ] && seen=1; done\n')


def tree_index(root):
    """{relpath bytes: description} of everything under root (file contents hashed)."""
    broot = os.fsencode(str(root))
    out = {}
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, broot)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                with open(full, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                out[rel] = ("file", st.st_size, digest, st.st_mtime_ns // 1000000000)
    return out


def plan_params(source, destination, tool="rsync", partition_files=5, partition_bytes=10 ** 9,
                **extra):
    extra.setdefault("threads", 4)
    return plan_defaults(source=str(source), destination=str(destination), tool=tool,
                         partition_files=partition_files, partition_bytes=partition_bytes,
                         **extra)


def new_run(shared, run_id, source, destination, **kw):
    rundir = RunDir(str(shared), run_id)
    result = make_plan(rundir, plan_params(source, destination, **kw))
    return rundir, result


def part_ids(rundir):
    ids, part_id = [], 1
    while rundir.has_manifest(part_id):
        ids.append(part_id)
        part_id += 1
    return ids


def read_list(rundir, part_id):
    """The paths of a partition, in manifest order."""
    with open(rundir.manifest_path(part_id), "rb") as handle:
        data = handle.read()
    assert data == b"" or data.endswith(b"\0"), "a manifest must be NUL-terminated"
    return [e[3] for e in rundir.read_manifest(part_id)]


def part_totals(rundir, part_id):
    """(files, bytes) of a partition, from its manifest."""
    entries = rundir.read_manifest(part_id)
    return sum(1 for e in entries if e[0] != "d"), sum(e[1] for e in entries)


def worker_record(rundir, host):
    return {r["host"]: r for r, _mtime in rundir.workers()}[host]

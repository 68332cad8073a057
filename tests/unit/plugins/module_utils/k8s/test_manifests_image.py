"""The worker image's Containerfile: linted with hadolint, consistent with the Job the play
renders, and its rclone step refusing anything but the pinned checksum. The image itself is
not built here (no base image can be pulled on these machines)."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.k8s import manifests as km

from tests.conftest import ROOT

IMAGE_DIR = os.path.join(ROOT, "images", "worker")
CONTAINERFILE = os.path.join(IMAGE_DIR, "Containerfile")


def _hadolint():
    return shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")


def test_hadolint_finds_nothing():
    proc = subprocess.run([_hadolint(), "--failure-threshold", "info", CONTAINERFILE],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_runs_what_the_job_runs():
    text = open(CONTAINERFILE).read()
    assert 'ENTRYPOINT ["python3", "-m", "%s"]' % km.WORKER_MODULE in text
    copied = re.findall(r"^COPY (?!--from)(\S+) (\S+)$", text, re.M)
    for src, dest in copied:
        assert os.path.exists(os.path.join(ROOT, src)), src
    assert ("plugins/module_utils/",
            "/opt/datamover/ansible_collections/datamover/fleet/plugins/module_utils/") in copied
    assert "ENV PYTHONPATH=/opt/datamover" in text
    # non-root by default, the UID the Job asks for unless datamover_kubernetes_run_as_user=0
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert km.job({"run_id": "r", "namespace": "n", "server_version": "1.31", "image": "i",
                   "pods": 1, "slots": 1, "retries": 0, "backoff": 1, "lease_seconds": 60,
                   "run_wait": 1, "tool": "rsync", "source": "/s", "destination": "/d",
                   "shared_dir": "/sh", "source_pvc": "a", "shared_pvc": "a",
                   "destination_pvc": "b", "secret_mount": "/etc/x",
                   "ttl_seconds_after_finished": 1, "active_deadline_seconds": 1}
                  )["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


@pytest.fixture
def release(tmp_path):
    name = "rclone-v9.9.9-linux-amd64"
    (tmp_path / "v9.9.9").mkdir()
    archive = tmp_path / "v9.9.9" / (name + ".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name + "/rclone", b"#!/bin/sh\necho rclone v9.9.9\n")
        zf.writestr(name + "/README.txt", b"x")
    return tmp_path, hashlib.sha256(archive.read_bytes()).hexdigest()


def _fetch(tmp_path, base, sha):
    env = dict(os.environ, RCLONE_VERSION="9.9.9", RCLONE_ARCH="amd64", RCLONE_SHA256=sha,
               RCLONE_BASE_URL="file://" + str(base), RCLONE_DEST=str(tmp_path / "rclone"))
    return subprocess.run([sys.executable, os.path.join(IMAGE_DIR, "fetch_rclone.py")], env=env,
                          capture_output=True, text=True, check=False)


def test_rclone_step_installs_only_the_pinned_zip(release, tmp_path):
    base, sha = release
    out = tmp_path / "out"
    out.mkdir()
    proc = _fetch(out, base, "")
    assert proc.returncode != 0 and "set --build-arg RCLONE_SHA256" in proc.stderr
    proc = _fetch(out, base, "0" * 64)
    assert proc.returncode != 0 and "not the pinned RCLONE_SHA256" in proc.stderr
    assert not (out / "rclone").exists()
    proc = _fetch(out, base, sha.upper())
    assert proc.returncode == 0, proc.stderr
    assert os.access(out / "rclone", os.X_OK)
    assert subprocess.run([str(out / "rclone")], capture_output=True, text=True,
                          check=True).stdout.strip() == "rclone v9.9.9"

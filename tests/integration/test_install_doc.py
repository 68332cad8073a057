"""docs/install.md's build and install commands, run exactly as written (into a temporary
directory instead of /tmp/dm-dist and /opt/ansible/collections), offline: the installed
collection holds the migrate role, every module and the playbooks, and runs by name."""
from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess

import yaml

from tests.conftest import ROOT, VENV_BIN

DOC = os.path.join(ROOT, "docs", "install.md")
DIST, COLLECTIONS = "/tmp/dm-dist", "/opt/ansible/collections"


def _doc_commands():
    """The ansible-galaxy command lines of the block between the install markers."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"<!-- install:begin -->(.*?)<!-- install:end -->", text, re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.strip().startswith("ansible-galaxy ")]


def _run(argv, cwd, home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") or k == "ANSIBLE_NOCOLOR"}
    # a controller of its own: no checkout's ansible.cfg, no collections of this machine's user
    env.update(HOME=str(home), ANSIBLE_NOCOLOR="1",
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_documented_build_and_install_give_a_working_collection(tmp_path):
    commands = _doc_commands()
    assert [c.split()[:3] for c in commands] == [["ansible-galaxy", "collection", "build"],
                                                 ["ansible-galaxy", "collection", "install"]]
    build, install = commands
    assert "--no-deps" in install.split() and "--offline" in install.split()
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        version = yaml.safe_load(handle)["version"]
    assert "datamover-fleet-%s.tar.gz" % version in install, "the doc names another version"

    dist, collections, home = tmp_path / "dist", tmp_path / "collections", tmp_path / "home"
    home.mkdir()

    def argv(line):
        words = shlex.split(line.replace(DIST, str(dist)).replace(COLLECTIONS, str(collections)))
        return [os.path.join(VENV_BIN, words[0])] + words[1:]

    proc = _run(argv(build), ROOT, home)  # "cd datamover.fleet": the checkout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dist / ("datamover-fleet-%s.tar.gz" % version)).is_file()
    proc = _run(argv(install), tmp_path, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "was installed successfully" in proc.stdout, proc.stdout

    installed = collections / "ansible_collections" / "datamover" / "fleet"
    for rel in ("MANIFEST.json", "roles/migrate/tasks/main.yml",
                "roles/migrate/meta/argument_specs.yml", "playbooks/migrate.yml",
                "playbooks/awx_status.yml", "playbooks/awx_stop.yml"):
        assert (installed / rel).is_file(), rel
    modules = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "plugins",
                                                                         "modules", "*.py")))
    assert modules and set(modules) <= set(os.listdir(installed / "plugins" / "modules"))
    assert not (installed / "tests" / "unit").exists()  # the build leaves the lab out

    # docs/install.md, "Running the playbooks": by name, from the collections path alone
    env_path = {"ANSIBLE_COLLECTIONS_PATH": str(collections)}
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "--syntax-check", "-i", "localhost,",
         "datamover.fleet.migrate"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=False, env=dict({k: v for k, v in os.environ.items()
                               if not k.startswith("ANSIBLE_")}, HOME=str(home), **env_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(installed / "playbooks" / "migrate.yml") in proc.stdout

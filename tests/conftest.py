"""Shared fixtures: the collection on sys.path, a real S3 server, and a playbook runner that
drives migrate.yml through ansible-runner, the way AWX runs it."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "datamover", "fleet")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
sys.path.insert(0, COLLECTIONS)
sys.path.insert(0, ROOT)
VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="session")
def s3():
    from tests.lab.seaweed import SeaweedS3
    server = SeaweedS3(bucket="dmtest")
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


class PlaybookRun:
    def __init__(self, runner, stdout, shared_dir, run_id):
        self.runner = runner
        self.rc = runner.rc
        self.stdout = stdout
        self.shared_dir = shared_dir
        self.run_id = run_id

    @property
    def report(self):
        path = os.path.join(self.shared_dir, self.run_id, "report.json")
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return json.load(handle)


def run_playbook(tmp_path, extravars, inventory=None, playbook="playbooks/migrate.yml",
                 envvars=None, name="runner"):
    """Run a playbook with ansible-runner; returns PlaybookRun (never raises on play failure)."""
    import ansible_runner
    private = tmp_path / name
    private.mkdir(exist_ok=True)
    env = {
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    env.update(envvars or {})
    runner = ansible_runner.run(
        private_data_dir=str(private), project_dir=ROOT, playbook=os.path.join(ROOT, playbook),
        inventory=inventory or os.path.join(ROOT, "inventories", "local"),
        extravars=extravars, envvars=env, quiet=True, timeout=900,
    )
    stdout = runner.stdout.read()
    with open(private / "stdout.txt", "w") as handle:
        handle.write(stdout)
    run_id = extravars.get("datamover_run_id") or _run_id_from(runner)
    return PlaybookRun(runner, stdout, extravars.get("datamover_shared_dir"), run_id)


def _run_id_from(runner):
    for event in runner.events:
        res = (event.get("event_data") or {}).get("res") or {}
        if isinstance(res, dict) and res.get("run_id") and "nonce" in res:
            return res["run_id"]
    return None


@pytest.fixture
def playbook(tmp_path):
    def _run(extravars, **kw):
        return run_playbook(tmp_path, extravars, **kw)
    return _run

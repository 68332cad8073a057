"""What the command line gives, through the real ansible-playbook: booleans as strings
(true/false/yes/no, as -e and AWX surveys give them), and host patterns that match nothing."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import COLLECTIONS, ROOT

BIN = os.path.dirname(sys.executable)


def _playbook(*args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=BIN + os.pathsep + os.environ["PATH"])
    return subprocess.run([os.path.join(BIN, "ansible-playbook"),
                           "-i", os.path.join(ROOT, "inventories", "local")] + list(args),
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=600)


@pytest.mark.parametrize("on, off", [("true", "false"), ("yes", "no"), ("True", "No")])
def test_provision_takes_booleans_as_strings(on, off):
    """The worker role's switches, each given as a string from -e, through the real tasks in
    check mode (fpart is present on this machine, so nothing is installed)."""
    proc = _playbook(os.path.join(ROOT, "playbooks", "provision.yml"), "--check",
                     "-e", "worker_host_fpart=" + on, "-e", "worker_host_oci_cli=" + off,
                     "-e", "worker_host_instance_principal=" + off, "-e", "fpart_epel=" + on,
                     "-e", '{"worker_host_tools": ["rsync"]}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Conditionals must have a boolean result" not in proc.stdout
    assert "fpart at " in proc.stdout and "oci-cli" not in proc.stdout.split("is a datamover worker")[1]


@pytest.mark.parametrize("how", [["-l", "nosuchhost"], ["-e", "datamover_hosts=nosuchhost"],
                                 ["-l", "worker1", "-e", "datamover_hosts=worker2"]])
def test_hosts_that_match_nothing_fail_the_play(tmp_path, how):
    (tmp_path / "src").mkdir()
    proc = _playbook(os.path.join(ROOT, "playbooks", "migrate.yml"), *how,
                     "-e", "datamover_source=%s" % (tmp_path / "src"),
                     "-e", "datamover_destination=%s" % (tmp_path / "dst"),
                     "-e", "datamover_tool=rsync", "-e", "datamover_shared_dir=%s" % (tmp_path / "sh"))
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "no hosts" in (proc.stdout + proc.stderr)
    assert sorted(os.listdir(tmp_path)) == ["src"]

"""playbooks/oci_access.yml (role datamover.fleet.oci_access) through ansible-runner, the real
modules and the real oci SDK against a FAKE OCI Identity server (tests/lab/fake_oci.py):
create, no change on the second run, drift repaired with a diff in check mode first, and the
statements printed for an administrator when the caller has no IAM rights."""
from __future__ import annotations

import os

import pytest

from tests.conftest import COLLECTIONS, ROOT, VENV_BIN
from tests.lab.fake_oci import FakeOciAccount

STORAGE = "ocid1.compartment.oc1..storage"
WORKERS = "ocid1.compartment.oc1..workers"
OPERATORS = "ocid1.compartment.oc1..operators"


@pytest.fixture
def fake(tmp_path):
    account = FakeOciAccount(tmp_path)
    yield account
    account.stop()


def play(tmp_path, fake, name, cmdline=None, playbook="oci_access.yml", inventory="localhost,", **extra):
    import ansible_runner
    private = tmp_path / name
    private.mkdir()
    extravars = {} if playbook != "oci_access.yml" else {"oci_access_policy_compartment_id": STORAGE, "oci_access_config_file": fake.key["config"],
                 "oci_access_endpoint": fake.server.endpoint, "oci_access_instance_compartments": [WORKERS],
                 "oci_access_buckets": ["ml-checkpoints"], "oci_access_oke_dynamic_group": "oke-operator",
                 "oci_access_oke_instance_compartments": [OPERATORS]}
    extravars.update(extra)
    env = {"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
           "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_NOCOLOR": "1"}
    runner = ansible_runner.run(private_data_dir=str(private), project_dir=ROOT,
                                playbook=os.path.join(ROOT, "playbooks", playbook),
                                inventory=inventory, extravars=extravars, envvars=env, quiet=True,
                                cmdline=cmdline, timeout=300)
    return runner, runner.stdout.read()


def test_oci_access_create_idempotent_drift_and_no_rights(tmp_path, fake):
    runner, out = play(tmp_path, fake, "first")
    assert runner.rc == 0, out[-4000:]
    groups = {g["name"]: g["matchingRule"] for g in fake.server.dynamic_groups.values()}
    assert groups == {"rclone-hosts": "ANY {instance.compartment.id = '%s'}" % WORKERS,
                      "oke-operator": "ANY {instance.compartment.id = '%s'}" % OPERATORS}
    (policy,) = fake.server.policies.values()
    assert policy["compartmentId"] == STORAGE and policy["statements"] == [
        "allow dynamic-group rclone-hosts to read buckets in compartment storage",
        "allow dynamic-group rclone-hosts to manage objects in compartment storage "
        "where any {target.bucket.name = 'ml-checkpoints'}",
        "allow dynamic-group oke-operator to manage cluster-family in compartment storage"]

    runner, out = play(tmp_path, fake, "second")
    assert runner.rc == 0 and "changed=0" in out, out[-3000:]
    writes = [r for r in fake.server.requests if r[0] != "GET"]
    assert len(writes) == 3  # two groups and the policy, created once

    policy["statements"] = policy["statements"][:1]  # someone removed statements by hand
    runner, out = play(tmp_path, fake, "check", cmdline="--check --diff")
    assert runner.rc == 0 and "changed=1" in out, out[-3000:]
    assert ('+        "allow dynamic-group oke-operator to manage cluster-family in compartment storage"'
            in out.splitlines())
    assert len(policy["statements"]) == 1  # check mode wrote nothing
    runner, out = play(tmp_path, fake, "repair")
    assert runner.rc == 0 and len(policy["statements"]) == 3

    fake.server.fail("GET", "/dynamicGroups$", 404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found")
    runner, out = play(tmp_path, fake, "no-rights", oci_access_required=False)
    assert runner.rc == 0, out[-3000:]
    assert "OCI IAM was not changed: looking up dynamic group 'rclone-hosts'" in out
    assert "allow dynamic-group rclone-hosts to read buckets in compartment storage" in out
    assert "Dynamic group rclone-hosts, matching rule: ANY {instance.compartment.id = '%s'}" % WORKERS in out
    runner, out = play(tmp_path, fake, "no-rights-required")
    assert runner.rc != 0 and "a tenancy administrator" in out


def test_oci_preflight_playbook_on_every_worker(tmp_path, fake):
    """playbooks/oci_preflight.yml on inventories/local (two workers), config-file auth to the fake."""
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    common = {"oci_preflight_bucket": "ml-checkpoints", "oci_preflight_auth_type": "config_file",
              "oci_preflight_config_file": fake.key["config"], "oci_preflight_endpoint": fake.server.endpoint,
              "oci_preflight_python": os.path.join(VENV_BIN, "python"), "oci_preflight_namespace": "fakens"}
    local = os.path.join(ROOT, "inventories", "local")
    runner, out = play(tmp_path, fake, "preflight", playbook="oci_preflight.yml", inventory=local, **common)
    assert runner.rc == 0, out[-3000:]
    puts = [p for m, p in fake.server.requests if m == "PUT"]
    assert len(puts) == 2 and fake.server.buckets["ml-checkpoints"]["objects"] == {}
    runner, out = play(tmp_path, fake, "preflight-missing", playbook="oci_preflight.yml", inventory=local,
                       **dict(common, oci_preflight_bucket="nope", oci_preflight_compartment_id=STORAGE))
    assert runner.rc != 0
    assert "bucket 'nope' does not exist in compartment %s, region eu-frankfurt-1" % STORAGE in out


def test_instance_principal_role_manages_iam_when_asked(tmp_path, fake):
    """datamover.fleet.instance_principal with instance_principal_manage_iam: the dynamic group and
    the policy are created through oci_access; without IAM rights the statements are printed and
    the play goes on."""
    book = tmp_path / "ip.yml"
    book.write_text("""
- name: Instance principal with IAM
  hosts: all
  gather_facts: false
  roles:
    - role: datamover.fleet.instance_principal
      vars:
        instance_principal_namespace: fakens
        instance_principal_compartment: %s
        instance_principal_instances_compartment: %s
        instance_principal_region: eu-frankfurt-1
        instance_principal_buckets: [ml-checkpoints]
        instance_principal_rclone_config_path: %s/rclone.conf
        instance_principal_oci_cli_auth_shell_file: %s/bashrc
        instance_principal_manage_iam: true
        instance_principal_iam_config_file: %s
""" % (STORAGE, WORKERS, tmp_path, tmp_path, fake.key["config"]))
    import ansible_runner
    env = {"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
           "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""), "ANSIBLE_NOCOLOR": "1"}

    def run(name):
        private = tmp_path / name
        private.mkdir()
        runner = ansible_runner.run(private_data_dir=str(private), project_dir=ROOT, playbook=str(book),
                                    inventory="localhost ansible_connection=local ansible_python_interpreter=%s"
                                    % os.path.join(VENV_BIN, "python"),
                                    extravars={"oci_access_endpoint": fake.server.endpoint}, envvars=env,
                                    quiet=True, timeout=300)
        return runner, runner.stdout.read()

    runner, out = run("iam")
    assert runner.rc == 0, out[-3000:]
    assert [(g["name"], g["matchingRule"]) for g in fake.server.dynamic_groups.values()] == [
        ("rclone-hosts", "ANY {instance.compartment.id = '%s'}" % WORKERS)]
    (policy,) = fake.server.policies.values()
    assert policy["statements"][0] == "allow dynamic-group rclone-hosts to read buckets in compartment storage"
    assert "OCI IAM was not changed" not in out

    fake.server.fail("POST", "/policies$", 403, "NotAllowed")
    fake.server.fail("PUT", "/policies/", 403, "NotAllowed")
    policy["statements"] = []
    runner, out = run("no-rights")
    assert runner.rc == 0, out[-3000:]
    assert "OCI IAM was not changed: updating the statements of policy 'datamover-transfer' failed: OCI answered 403" in out
    assert "where any {target.bucket.name = 'ml-checkpoints'}" in out

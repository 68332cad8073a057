"""oci_dynamic_group and oci_policy through the real oci SDK against a FAKE OCI Identity server
(tests/lab/fake_oci.py): real request signing (verified by the fake), real ServiceErrors."""
from __future__ import annotations

import pytest

from ansible_collections.datamover.fleet.plugins.modules import oci_dynamic_group, oci_policy
from tests.lab.fake_oci import FakeOciAccount
from tests.unit.plugins.modules.oci_harness import run_module

STORAGE = "ocid1.compartment.oc1..storage"
WORKERS = "ocid1.compartment.oc1..workers"
BROAD = "allow dynamic-group rclone-hosts to manage object-family in compartment storage"
OKE = "allow dynamic-group oke-operator to manage cluster-family in compartment storage"


@pytest.fixture
def fake(tmp_path):
    account = FakeOciAccount(tmp_path)
    yield account
    account.stop()


def group(fake, **kw):
    return fake.module_params(name="rclone-hosts", **kw)


def test_dynamic_group_created_then_unchanged(fake):
    first = run_module(oci_dynamic_group, group(fake, instance_compartments=[WORKERS]), diff=True)
    assert first["changed"] is True and "failed" not in first
    rule = "ANY {instance.compartment.id = '%s'}" % WORKERS
    assert first["matching_rule"] == rule
    assert first["diff"] == {"before": {}, "after": {"name": "rclone-hosts", "matching_rule": rule,
                                                      "description": first["dynamic_group"]["description"]}}
    stored = list(fake.server.dynamic_groups.values())
    assert [(g["name"], g["compartmentId"], g["matchingRule"]) for g in stored] == [
        ("rclone-hosts", fake.tenancy, rule)]
    second = run_module(oci_dynamic_group, group(fake, instance_compartments=[WORKERS]))
    assert second["changed"] is False
    assert len(fake.server.calls("POST")) == 1 and not fake.server.calls("PUT")


def test_dynamic_group_rule_by_tag_drift_is_updated_with_diff(fake):
    run_module(oci_dynamic_group, group(fake, instance_compartments=[WORKERS]))
    tags = [{"namespace": "datamover", "key": "role", "value": "worker"}]
    result = run_module(oci_dynamic_group, group(fake, instance_tags=tags), diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["matching_rule"] == "ANY {instance.compartment.id = '%s'}" % WORKERS
    assert result["diff"]["after"]["matching_rule"] == "ANY {tag.datamover.role.value = 'worker'}"
    assert list(fake.server.dynamic_groups.values())[0]["matchingRule"] == "ANY {tag.datamover.role.value = 'worker'}"


def test_dynamic_group_check_mode_changes_nothing(fake):
    result = run_module(oci_dynamic_group, group(fake, instance_compartments=[WORKERS]), check_mode=True)
    assert result["changed"] is True
    assert fake.server.dynamic_groups == {} and not fake.server.calls("POST")


def test_dynamic_group_needs_a_rule(fake):
    result = run_module(oci_dynamic_group, group(fake))
    assert result["failed"] and "needs matching_rule, instance_compartments or instance_tags" in result["msg"]


def test_dynamic_group_403_says_who_may_do_it(fake):
    fake.server.fail("POST", "/dynamicGroups$", 403, "NotAllowed")
    result = run_module(oci_dynamic_group, group(fake, instance_compartments=[WORKERS]))
    assert result["failed"] and result["status"] == 403
    msg = result["msg"]
    assert msg.startswith("creating dynamic group 'rclone-hosts' in tenancy %s failed: OCI answered 403 NotAllowed"
                          % fake.tenancy)
    assert "allow group <admins> to manage dynamic-groups in tenancy" in msg
    assert "opc-request-id fake-" in msg


def policy(fake, statements, **kw):
    return fake.module_params(name="datamover-transfer", compartment_id=STORAGE, statements=statements, **kw)


def test_policy_created_then_unchanged(fake):
    first = run_module(oci_policy, policy(fake, [BROAD, OKE]))
    assert first["changed"] is True and first["added"] == [BROAD, OKE]
    stored = list(fake.server.policies.values())
    assert [(p["name"], p["compartmentId"], p["statements"]) for p in stored] == [
        ("datamover-transfer", STORAGE, [BROAD, OKE])]
    # OCI reads keywords case-insensitively: an Allow spelt differently is the same statement.
    second = run_module(oci_policy, policy(fake, [BROAD.replace("allow", "Allow"), OKE]))
    assert second["changed"] is False and second["added"] == []
    assert len(fake.server.calls("POST")) == 1 and not fake.server.calls("PUT")


def test_policy_missing_statement_is_added_and_shown_in_diff(fake):
    other = "allow group storage-admins to manage buckets in compartment storage"
    fake.server.policies["ocid1.policy.oc1..old"] = {
        "id": "ocid1.policy.oc1..old", "compartmentId": STORAGE, "name": "datamover-transfer",
        "description": "set by hand", "statements": [other], "lifecycleState": "ACTIVE",
        "timeCreated": "2026-11-25T00:00:00.000Z"}
    result = run_module(oci_policy, policy(fake, [BROAD]), diff=True)
    assert result["changed"] is True and result["added"] == [BROAD] and result["removed"] == []
    assert result["diff"]["before"]["statements"] == [other]
    assert result["diff"]["after"]["statements"] == [other, BROAD]
    assert fake.server.policies["ocid1.policy.oc1..old"]["statements"] == [other, BROAD]
    assert fake.server.policies["ocid1.policy.oc1..old"]["description"] == "set by hand"
    purged = run_module(oci_policy, policy(fake, [BROAD], purge_statements=True))
    assert purged["removed"] == [other]
    assert fake.server.policies["ocid1.policy.oc1..old"]["statements"] == [BROAD]


def test_policy_check_mode_reports_without_writing(fake):
    result = run_module(oci_policy, policy(fake, [BROAD]), check_mode=True, diff=True)
    assert result["changed"] is True and result["diff"]["after"]["statements"] == [BROAD]
    assert fake.server.policies == {} and not fake.server.calls("POST")


def test_policy_404_on_compartment_names_both_causes(fake):
    fake.server.fail("GET", "/policies$", 404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found")
    result = run_module(oci_policy, policy(fake, [BROAD]))
    assert result["failed"] and result["status"] == 404
    assert result["msg"].startswith("looking up policy 'datamover-transfer' in compartment %s failed: "
                                    "OCI answered 404 NotAuthorizedOrNotFound" % STORAGE)
    assert "the compartment does not exist, or the caller may not manage its policies" in result["msg"]


def test_a_bad_signature_is_refused_by_the_fake(fake, tmp_path):
    """The fake really verifies signatures: a config whose key does not match is rejected (401)."""
    from tests.lab.fake_oci import new_api_key
    other = tmp_path / "other"
    other.mkdir()
    wrong = new_api_key(other)
    params = dict(policy(fake, [BROAD]), config_file=wrong["config"])
    # a keyId the server knows, signed with a key it does not hold
    fake.server.keys[wrong["key_id"]] = fake.key["public_key"]
    result = run_module(oci_policy, params)
    assert result["failed"] and result["status"] == 401
    assert "signature does not verify" in result["msg"]
    assert "check the user OCID, the key fingerprint and the key file" in result["msg"]


def test_missing_config_file_is_one_clear_message(fake, tmp_path):
    result = run_module(oci_policy, dict(policy(fake, [BROAD]), config_file=str(tmp_path / "nope")))
    assert result["failed"]
    assert result["msg"] == ("OCI config file %s does not exist: create it (oci setup config) or use "
                             "auth_type=instance_principal on an OCI instance" % (tmp_path / "nope"))


def test_policy_from_accesses_least_privilege_and_oke(fake):
    params = fake.module_params(name="datamover-transfer", compartment_id=STORAGE,
                                transfer_access={"dynamic_group": "rclone-hosts", "compartment": "storage",
                                                 "buckets": ["ml-checkpoints"]},
                                oke_access={"dynamic_group": "oke-operator", "compartment": "storage"})
    result = run_module(oci_policy, params)
    want = ["allow dynamic-group rclone-hosts to read buckets in compartment storage",
            "allow dynamic-group rclone-hosts to manage objects in compartment storage "
            "where any {target.bucket.name = 'ml-checkpoints'}", OKE]
    assert result["changed"] is True and result["statements"] == want
    assert list(fake.server.policies.values())[0]["statements"] == want


def test_rendered_calls_no_oci(fake, tmp_path):
    params = dict(policy(fake, [], transfer_access={"dynamic_group": "rclone-hosts", "compartment": "storage"}),
                  state="rendered", config_file=str(tmp_path / "no-such-config"))
    result = run_module(oci_policy, params)
    assert result == {"changed": False, "statements": [BROAD], "added": [], "removed": []}
    rule = run_module(oci_dynamic_group, dict(group(fake, instance_compartments=[WORKERS]), state="rendered"))
    assert rule == {"changed": False, "matching_rule": "ANY {instance.compartment.id = '%s'}" % WORKERS}
    assert fake.server.requests == []


def test_failure_still_returns_the_statements(fake):
    fake.server.fail("GET", "/policies$", 403, "NotAllowed")
    result = run_module(oci_policy, policy(fake, [BROAD]))
    assert result["failed"] and result["statements"] == [BROAD]

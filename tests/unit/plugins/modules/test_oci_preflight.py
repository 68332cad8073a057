"""oci_preflight through the real oci SDK against a FAKE OCI Object Storage server
(tests/lab/fake_oci.py): each failure names its cause and what to do."""
from __future__ import annotations

import socket
import time

import pytest

from ansible_collections.datamover.fleet.plugins.modules import oci_preflight
from tests.lab.fake_oci import FakeOciAccount
from tests.unit.plugins.modules.oci_harness import run_module

STORAGE = "ocid1.compartment.oc1..storage"


@pytest.fixture
def fake(tmp_path):
    account = FakeOciAccount(tmp_path, namespace="fakens")
    yield account
    account.stop()


def check(fake, **kw):
    return fake.module_params(bucket="ml-checkpoints", **kw)


def test_bucket_present_probe_written_and_deleted(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    result = run_module(oci_preflight, check(fake, namespace="fakens", probe_prefix="ckpt/"))
    assert "failed" not in result, result
    assert result["changed"] is False and result["namespace"] == "fakens"
    assert result["probe"] == "written and deleted" and result["bucket"]["name"] == "ml-checkpoints"
    puts = [p for m, p in fake.server.calls("PUT")]
    deletes = [p for m, p in fake.server.calls("DELETE")]
    assert len(puts) == 1 and puts[0].startswith("/n/fakens/b/ml-checkpoints/o/ckpt")
    assert deletes == puts and fake.server.buckets["ml-checkpoints"]["objects"] == {}


def test_check_mode_writes_nothing(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    result = run_module(oci_preflight, check(fake), check_mode=True)
    assert result["probe"] == "skipped" and not fake.server.calls("PUT")


def test_missing_bucket_is_created_only_when_asked(fake):
    refused = run_module(oci_preflight, check(fake, compartment_id=STORAGE))
    assert refused["failed"] and fake.server.buckets == {}
    assert refused["msg"] == ("bucket 'ml-checkpoints' does not exist in compartment %s, region eu-frankfurt-1: "
                              "create it (or set create_bucket=true), or fix the region if the bucket is in "
                              "another one" % STORAGE)
    would = run_module(oci_preflight, check(fake, compartment_id=STORAGE, create_bucket=True), check_mode=True)
    assert would["changed"] is True and would["created"] is True and fake.server.buckets == {}
    made = run_module(oci_preflight, check(fake, compartment_id=STORAGE, create_bucket=True))
    assert made["changed"] is True and made["created"] is True and made["probe"] == "written and deleted"
    assert fake.server.buckets["ml-checkpoints"]["compartmentId"] == STORAGE
    assert fake.server.buckets["ml-checkpoints"]["publicAccessType"] == "NoPublicAccess"
    again = run_module(oci_preflight, check(fake, compartment_id=STORAGE, create_bucket=True))
    assert again["changed"] is False and again["created"] is False


def test_404_without_compartment_names_region_and_policy(fake):
    result = run_module(oci_preflight, check(fake))
    assert result["failed"]
    assert "bucket 'ml-checkpoints' in namespace 'fakens', region eu-frankfurt-1: not found" in result["msg"]
    assert "allow dynamic-group rclone-hosts to read buckets in compartment storage" in result["msg"]


def test_policy_missing_for_buckets(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    fake.server.fail("GET", "^/n/fakens/b/ml-checkpoints$", 404, "BucketNotFound")
    fake.server.fail("GET", "^/n/fakens/b/?$", 404, "NotAuthorizedOrNotFound")
    result = run_module(oci_preflight, check(fake, compartment_id=STORAGE, dynamic_group="dg",
                                             compartment_name="lab:storage"))
    assert result["failed"] and result["status"] == 404
    assert result["msg"].startswith("listing the buckets of compartment %s (bucket 'ml-checkpoints' was not "
                                    "found) failed: OCI answered 404 NotAuthorizedOrNotFound" % STORAGE)
    assert "add 'allow dynamic-group dg to read buckets in compartment lab:storage'" in result["msg"]


def test_policy_missing_for_objects_403_on_probe(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    fake.server.fail("PUT", "^/n/fakens/b/ml-checkpoints/o/", 403, "NotAllowed")
    result = run_module(oci_preflight, check(fake))
    assert result["failed"] and result["status"] == 403
    assert result["msg"].startswith("writing probe object ")
    assert ("add 'allow dynamic-group rclone-hosts to manage objects in compartment storage "
            "where target.bucket.name = 'ml-checkpoints''") in result["msg"]


def test_probe_written_but_not_deletable(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    fake.server.fail("DELETE", "^/n/fakens/b/ml-checkpoints/o/", 404, "NotAuthorizedOrNotFound")
    result = run_module(oci_preflight, check(fake))
    assert result["failed"] and "the probe was written but cannot be deleted" in result["msg"]
    assert "remove '" in result["msg"]


def test_no_dynamic_group_match_is_401_on_namespace(fake):
    fake.server.fail("GET", "^/n/?$", 401, "NotAuthenticated", "The required information to complete authentication was not provided")
    result = run_module(oci_preflight, check(fake))
    assert result["failed"] and result["status"] == 401
    assert result["msg"].startswith("looking up the Object Storage namespace (region eu-frankfurt-1) failed")
    assert "no dynamic group matches this instance" in result["msg"]


def test_wrong_namespace(fake):
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    result = run_module(oci_preflight, check(fake, namespace="othertenancy"))
    assert result["failed"] and result["msg"].startswith(
        "namespace 'othertenancy' was given but this tenancy's Object Storage namespace is 'fakens'")


def test_not_on_oci_fails_fast(fake, monkeypatch):
    """The instance metadata service is pointed at a closed loopback port (never at the real
    169.254.169.254): the message says this host is not an OCI instance."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OCI_METADATA_BASE_URL", "http://127.0.0.1:%d/opc/v2" % port)
    started = time.monotonic()
    result = run_module(oci_preflight, check(fake, auth_type="instance_principal"))
    assert result["failed"]
    assert result["msg"].startswith("auth_type=instance_principal: the instance metadata service did not answer")
    assert "this host is not an OCI instance" in result["msg"]
    assert time.monotonic() - started < 40
    assert fake.server.requests == []


def test_instance_principal_end_to_end(fake, monkeypatch):
    """The SDK's own instance-principal flow: certificate and key from the (fake) metadata service,
    a session token from the (fake) federation endpoint, every request then signed with the
    session key (ST$<token>), which the fake verifies. The SDK takes the federation endpoint only
    as an argument (by default it is the region's auth service): the test hands it in."""
    import oci

    identity = fake.serve_instance_principal()
    fake.server.add_bucket("ml-checkpoints", STORAGE)
    monkeypatch.setenv("OCI_METADATA_BASE_URL", fake.server.endpoint + "/opc/v2")
    original = oci.auth.signers.InstancePrincipalsSecurityTokenSigner

    class FederatedHere(original):
        def __init__(self, **kwargs):
            super().__init__(federation_endpoint=fake.server.endpoint + "/v1/x509", **kwargs)

    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", FederatedHere)
    result = run_module(oci_preflight, {"auth_type": "instance_principal", "endpoint": fake.server.endpoint,
                                        "bucket": "ml-checkpoints", "namespace": "fakens"})
    assert "failed" not in result, result
    assert result["region"] == "eu-frankfurt-1" and result["probe"] == "written and deleted"
    assert identity.tokens == 1
    assert [k for k in fake.server.keys if k.startswith("ST$")]  # the session key signed the calls
    assert ("POST", "/v1/x509") in fake.server.requests

"""datamover_verify=checksum on OCI Object Storage, against the project's FAKE OCI server
(tests/lab/fake_oci.py: not OCI; it checks every request's OCI signature, as the real SDKs sign
them), driven by the real rclone oracleobjectstorage backend. The fake lists ``md5`` per object
as OCI does: base64 MD5 of a single-part object, the opc-multipart-md5 shape for a multipart
one. rclone's own hash is not used (its OCI backend drops the listing's md5): the content check
reads the listing body, and makes no HEAD or GET per object."""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool

from tests.lab.fake_oci import FakeOciAccount
from tests.unit.helpers import write
from tests.unit.plugins.module_utils.tools.test_rclone_requests import RCLONE

MIB = 1 << 20
LAYOUT = ["--oos-upload-cutoff=5M", "--oos-chunk-size=5M"]


@pytest.fixture
def fake_oci(tmp_path, monkeypatch):
    account = FakeOciAccount(tmp_path)
    account.server.add_bucket("bkt", "ocid1.compartment.oc1..fake")
    remote = {"TYPE": "oracleobjectstorage", "PROVIDER": "user_principal_auth",
              "NAMESPACE": "fakens", "COMPARTMENT": "ocid1.compartment.oc1..fake",
              "REGION": "eu-frankfurt-1", "ENDPOINT": account.server.endpoint,
              "CONFIG_FILE": account.key["config"], "CONFIG_PROFILE": "DEFAULT"}
    for key, value in remote.items():
        monkeypatch.setenv("RCLONE_CONFIG_FAKEOCI_" + key, value)
    yield account
    account.stop()


def _multipart_md5(data, part=5 * MIB):
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    return "%s-%d" % (base64.b64encode(hashlib.md5(digests).digest()).decode(),
                      -(-len(data) // part))


@pytest.mark.skipif(not os.access(RCLONE, os.X_OK), reason="rclone is not installed")
def test_oci_content_is_checked_from_the_listing_md5s_of_the_fake(tmp_path, fake_oci):
    src = os.fsencode(str(tmp_path / "src"))
    write(os.path.join(src, b"x/small"), os.urandom(1000))
    write(os.path.join(src, b"x/big"), os.urandom(13 * MIB + 5))
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    tool = RcloneTool(os.fsdecode(src), "fakeoci:bkt/p", binary=RCLONE, verify="checksum",
                      options=LAYOUT)
    work = str(tmp_path / "work")
    os.makedirs(work)
    list_path, _skipped = tool.prepare(entries, work)
    server = fake_oci.server
    with open(os.path.join(work, "log"), "wb") as log:
        for argv in tool.commands(list_path, work):
            assert subprocess.run(argv, stdout=log, stderr=log, check=False).returncode == 0
        assert server.md5s[("bkt", "p/x/big")].endswith("-3")  # uploaded in 3 parts
        del server.requests[:]
        clean = tool.verify(entries, list_path, log)
        listed = list(server.requests)
        # other bytes of the same size, as another writer would leave them
        server.put_object("bkt", "p/x/small", os.urandom(1000))
        other = os.urandom(13 * MIB + 5)
        server.put_object("bkt", "p/x/big", other, md5=_multipart_md5(other))
        caught = tool.verify(entries, list_path, log)
    assert clean.mismatches == [] and clean.content_checked == 2 and clean.content_fallback == 0
    assert listed == [("GET", "/n/fakens/b/bkt/o")], listed  # ListObjects only
    assert sorted(m[0] for m in caught.mismatches) == ["x/big", "x/small"]
    assert all(m[1].startswith("content differs") for m in caught.mismatches)

"""Preflight against a real S3 server (SeaweedFS): a missing bucket is named with how to create
it, and neither the check nor the probe creates it."""
from __future__ import annotations

import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import (
    RcloneTool,
    split_remote,
)

from tests.lab.seaweed import rclone_binary


def _buckets(conf):
    proc = subprocess.run([rclone_binary(), "--config", conf, "lsd", "dmtest:"],
                          capture_output=True, text=True, check=True)
    return sorted(line.split()[-1] for line in proc.stdout.splitlines() if line.strip())


@pytest.mark.parametrize("probe", [False, True], ids=["stat", "probe"])
def test_a_missing_bucket_is_named_and_not_created(tmp_path, s3, probe):
    """Without a probe, a LIST of the bucket's root says so; with one, the probe's PUT fails
    (it never creates a bucket) and only then is the bucket looked at, to say why."""
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    before = _buckets(conf)
    for dest in ("dmtest:nosuchbucket", "dmtest:nosuchbucket/some/prefix"):
        problems = RcloneTool.check_destination(dest, rclone_binary(), conf, probe=probe)
        assert len(problems) == 1, problems
        assert "the bucket 'nosuchbucket' does not exist" in problems[0]
        assert "rclone mkdir dmtest:nosuchbucket" in problems[0]
    assert _buckets(conf) == before


def test_an_existing_bucket_and_a_new_prefix_pass(tmp_path, s3):
    conf = s3.write_rclone_config(str(tmp_path / "rclone.conf"))
    dest = "dmtest:dmtest/%s/new/prefix" % tmp_path.name
    assert RcloneTool.check_destination(dest, rclone_binary(), conf) == []


@pytest.mark.parametrize("dest, spec, path", [
    ("oci:bucket/x", "oci:", "bucket/x"),
    ("remote:bucket", "remote:", "bucket"),
    (":s3,endpoint='http://h:8333',secret_access_key=k:b/p", ":s3,endpoint='http://h:8333',"
     "secret_access_key=k:", "b/p"),
    (':s3,endpoint="http://h:1":b', ':s3,endpoint="http://h:1":', "b"),
    (":local:/tmp/x", ":local:", "/tmp/x"),
])
def test_split_remote(dest, spec, path):
    assert split_remote(dest) == (spec, path)

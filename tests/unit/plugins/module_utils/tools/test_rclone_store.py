"""tools.rclone_store: what a destination resolves to (rclone's order of precedence, never a
credential) and the names rclone's encoding gives a prefix, checked against the real rclone."""
from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone_store import (
    encode_segment,
    identity,
    prefix_rewrites,
    resolve_store,
    store_changes,
)

from tests.lab.seaweed import rclone_binary

CONF = """[store]
type = s3
provider = Other
endpoint = http://10.0.0.1:9000
region = eu-1
access_key_id = KEYID
secret_access_key = SEKRIT
"""


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "rclone.conf"
    path.write_text(CONF)
    return str(path)


def test_the_config_file_resolves_the_store_without_credentials(conf):
    store = resolve_store(rclone_binary(), conf, "store:bucket/prefix", environ={})
    assert identity(store) == {"type": "s3", "provider": "Other",
                               "endpoint": "http://10.0.0.1:9000", "region": "eu-1",
                               "namespace": "", "remote": "", "bucket": "bucket"}
    assert "SEKRIT" not in repr(store) and "KEYID" not in repr(store)


def test_rclone_precedence_connection_string_options_then_environment(conf):
    env = {"RCLONE_CONFIG_STORE_ENDPOINT": "http://env:1", "RCLONE_S3_REGION": "from-env",
           "RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY": "other-secret"}
    store = resolve_store(rclone_binary(), conf, "store:b", environ=env)
    assert store["endpoint"] == "http://env:1" and store["region"] == "from-env"
    store = resolve_store(rclone_binary(), conf, "store,endpoint='http://conn:2':b",
                          options=["--s3-region", "opt"], environ=env)
    assert store["endpoint"] == "http://conn:2" and store["region"] == "opt"
    # a remote that exists only in the environment, and an on-the-fly backend
    store = resolve_store(rclone_binary(), None, "envonly:b",
                          environ={"RCLONE_CONFIG_ENVONLY_TYPE": "oracleobjectstorage",
                                   "RCLONE_CONFIG_ENVONLY_NAMESPACE": "ns1"})
    assert (store["type"], store["namespace"]) == ("oracleobjectstorage", "ns1")
    store = resolve_store(rclone_binary(), None, ":s3,provider=Minio,endpoint='http://h:3':b/p",
                          environ={})
    assert (store["type"], store["provider"], store["endpoint"], store["bucket"]) == \
        ("s3", "Minio", "http://h:3", "b")


def test_new_credentials_are_the_same_store_another_endpoint_is_not(conf, tmp_path):
    before = identity(resolve_store(rclone_binary(), conf, "store:b", environ={}))
    other = tmp_path / "other.conf"
    other.write_text(CONF.replace("SEKRIT", "NEW-SECRET").replace("KEYID", "NEWKEY"))
    assert store_changes(before, identity(resolve_store(rclone_binary(), str(other), "store:b",
                                                        environ={}))) == []
    other.write_text(CONF.replace("10.0.0.1", "10.0.0.2"))
    assert store_changes(before, identity(resolve_store(rclone_binary(), str(other), "store:b",
                                                        environ={}))) == [
        "endpoint 'http://10.0.0.1:9000' -> 'http://10.0.0.2:9000'"]


S3_DEFAULT = {"Slash", "InvalidUtf8", "Dot"}


def test_prefix_rewrites_name_each_part_and_what_it_becomes():
    assert prefix_rewrites("bucket/runs/2026-12", S3_DEFAULT) == []
    assert prefix_rewrites("bucket/runs/", S3_DEFAULT) == []  # a trailing '/' is dropped
    assert prefix_rewrites("bucket/a/./b", S3_DEFAULT) == [
        "the segment '.' would be stored as '\uff0e' (rclone's Dot encoding), not resolved as a "
        "directory"]
    assert "the store would hold the objects under 'bucket/x'" in \
        prefix_rewrites("bucket//x", S3_DEFAULT)[0]
    assert prefix_rewrites("bucket/a b", S3_DEFAULT) == []  # S3 keeps spaces
    assert "'a\uff3cb'" in prefix_rewrites("bucket/a\\b", {"BackSlash"})[0]


# Names and flags whose encoding is checked against rclone's own (its local backend writes the
# encoded name to disk, so the directory listing shows what rclone made of it).
CASES = [("a:b", "Colon"), ("a\\b", "BackSlash"), (" lead", "LeftSpace"), ("trail ", "RightSpace"),
         ("end.", "RightPeriod"), (".start", "LeftPeriod"), ("~home", "LeftTilde"),
         ("a*b?c", "Asterisk,Question"), ('q"u\'o', "DoubleQuote,SingleQuote"),
         ("<x>|y", "LtGt,Pipe"), ("h#p%d$", "Hash,Percent,Dollar"), ("[s]!;", "SquareBracket,Exclamation,Semicolon"),
         ("tab\there", "Ctl"), ("del\x7f", "Del"), ("..", "Dot"), (".", "Dot"), ("plain", "Dot")]


@pytest.mark.parametrize("name, flags", CASES)
def test_encode_segment_matches_rclone(tmp_path, name, flags):
    target = tmp_path / "out"
    target.mkdir()
    proc = subprocess.run([rclone_binary(), "--config", "/dev/null", "touch",
                           "--local-encoding", "Slash," + flags, str(target) + "/" + name],
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(target) == [encode_segment(name, set(("Slash," + flags).split(",")))]

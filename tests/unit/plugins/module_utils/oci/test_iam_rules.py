"""The pure parts of module_utils/oci/iam.py: matching rules, statements, comparison."""
from __future__ import annotations

import pytest

from ansible_collections.datamover.fleet.plugins.module_utils.oci import iam


def test_matching_rule_any_of_compartments_and_tags():
    rule = iam.matching_rule(["ocid1.c..a", "ocid1.c..b"], [{"namespace": "dm", "key": "role", "value": "worker"}])
    assert rule == ("ANY {instance.compartment.id = 'ocid1.c..a', instance.compartment.id = 'ocid1.c..b', "
                    "tag.dm.role.value = 'worker'}")
    assert iam.matching_rule(rule="ALL {instance.id = 'x'}") == "ALL {instance.id = 'x'}"
    with pytest.raises(ValueError):
        iam.matching_rule()


def test_transfer_statements_broad_and_least_privilege():
    assert iam.transfer_statements("rclone-hosts", "storage") == [
        "allow dynamic-group rclone-hosts to manage object-family in compartment storage"]
    assert iam.transfer_statements("rclone-hosts", "storage", ["a", "b"]) == [
        "allow dynamic-group rclone-hosts to read buckets in compartment storage",
        "allow dynamic-group rclone-hosts to manage objects in compartment storage "
        "where any {target.bucket.name = 'a', target.bucket.name = 'b'}"]
    assert iam.oke_statements("ops", "storage") == [
        "allow dynamic-group ops to manage cluster-family in compartment storage"]


def test_normalize_keeps_quoted_names():
    assert iam.normalize("Allow  dynamic-group X to  read buckets") == iam.normalize("allow dynamic-group x to read buckets")
    assert iam.normalize("where target.bucket.name = 'A'") != iam.normalize("where target.bucket.name = 'a'")


def test_merged_statements_add_missing_or_purge():
    assert iam.merged_statements(["a x", "b"], ["A  x", "c"], purge=False) == ["a x", "b", "c"]
    assert iam.merged_statements(["a", "b"], ["c"], purge=True) == ["c"]
    assert iam.same_statements(["b", "a"], ["A", "B"])

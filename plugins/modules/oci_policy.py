#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_policy
short_description: Ensure the OCI policy statements the transfer and OKE operator hosts need
version_added: "0.1.0"
description:
  - Creates an OCI IAM policy, or adds the statements it lacks (O(purge_statements=false), the
    default), or makes its statements exactly O(statements) (O(purge_statements=true)).
  - Statements compare as OCI reads them - whitespace and keyword case do not matter, quoted
    names do.
  - Idempotent; supports check mode and diff mode (the statements before and after).
  - The statements usually come from the C(datamover.fleet.oci_access) role - the runbook's
    C(manage object-family), the least-privilege bucket-scoped pair, and C(manage cluster-family)
    for the OKE operator host.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.oci
options:
  name:
    description: Name of the policy.
    type: str
    required: true
  compartment_id:
    description:
      - OCID of the compartment the policy is attached to (the tenancy OCID for the root).
      - It must be the compartment its statements name, or one of its parents.
    type: str
    required: true
  statements:
    description: Policy statements that must be in the policy, verbatim.
    type: list
    elements: str
    default: []
  transfer_access:
    description:
      - Object Storage access for the transfer hosts' dynamic group, added to O(statements).
      - Without O(transfer_access.buckets), the runbook's statement
        C(allow dynamic-group G to manage object-family in compartment C).
      - With buckets, the least-privilege variant - C(allow dynamic-group G to read buckets in
        compartment C) and C(allow dynamic-group G to manage objects in compartment C where any
        {target.bucket.name = 'b1', ...}) - the workers can write only into those buckets.
    type: dict
    suboptions:
      dynamic_group:
        description: Dynamic group of the transfer hosts.
        type: str
        required: true
      compartment:
        description: Name (or path, C(a:b)) of the buckets' compartment, as statements spell it.
        type: str
        required: true
      buckets:
        description: The only buckets the transfer hosts may write (least privilege).
        type: list
        elements: str
        default: []
  oke_access:
    description:
      - OKE access for the operator host's dynamic group, added to O(statements) -
        C(allow dynamic-group G to manage cluster-family in compartment C).
    type: dict
    suboptions:
      dynamic_group:
        description: Dynamic group of the OKE operator host.
        type: str
        required: true
      compartment:
        description: Name (or path) of the cluster's compartment.
        type: str
        required: true
  purge_statements:
    description: Remove the statements that are not in O(statements).
    type: bool
    default: false
  description:
    description: Description of the policy. Default - kept as it is, or a datamover one for a new policy.
    type: str
  state:
    description:
      - C(present) creates or updates; C(absent) deletes the policy.
      - C(rendered) only returns the statements, without calling OCI (no credentials needed) -
        what to give a tenancy administrator when the caller has no IAM rights.
    type: str
    choices: [present, absent, rendered]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports what would change without calling create, update or delete.
  diff_mode:
    support: full
    description: Shows the statements before and after.
"""

EXAMPLES = r"""
- name: OCI | the runbook's policy for the transfer hosts
  datamover.fleet.oci_policy:
    name: datamover-transfer
    compartment_id: ocid1.compartment.oc1..aaaastorage
    statements:
      - allow dynamic-group rclone-hosts to manage object-family in compartment storage

- name: OCI | least privilege - the workers write only into one bucket; the OKE operator host
  datamover.fleet.oci_policy:
    name: datamover-transfer
    compartment_id: ocid1.compartment.oc1..aaaastorage
    purge_statements: true
    transfer_access:
      dynamic_group: rclone-hosts
      compartment: storage
      buckets: [ml-checkpoints]
    oke_access:
      dynamic_group: oke-operator
      compartment: storage

- name: OCI | the statements for an administrator, without calling OCI
  datamover.fleet.oci_policy:
    name: datamover-transfer
    compartment_id: ocid1.compartment.oc1..aaaastorage
    transfer_access: {dynamic_group: rclone-hosts, compartment: storage}
    state: rendered
  register: statements
"""

RETURN = r"""
statements:
  description: The statements the module ensures are in the policy (O(statements) and the accesses).
  returned: always
  type: list
  elements: str
policy:
  description: The policy as OCI returned it (after the change); in check mode, what it would be.
  returned: when state is present
  type: dict
added:
  description: Statements added (or that would be).
  returned: always
  type: list
  elements: str
removed:
  description: Statements removed (or that would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.oci import iam
from ansible_collections.datamover.fleet.plugins.module_utils.oci.client import (
    HAS_OCI,
    OCI_IMPORT_ERROR,
    OciSession,
    auth_args,
)
from ansible_collections.datamover.fleet.plugins.module_utils.errors import DatamoverError, require_library
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard

NEW_DESCRIPTION = "datamover.fleet: access of the transfer hosts"


def main():
    module = AnsibleModule(
        argument_spec=auth_args(
            name=dict(type="str", required=True),
            compartment_id=dict(type="str", required=True),
            statements=dict(type="list", elements="str", default=[]),
            transfer_access=dict(type="dict", options=dict(
                dynamic_group=dict(type="str", required=True),
                compartment=dict(type="str", required=True),
                buckets=dict(type="list", elements="str", default=[]))),
            oke_access=dict(type="dict", options=dict(
                dynamic_group=dict(type="str", required=True),
                compartment=dict(type="str", required=True))),
            purge_statements=dict(type="bool", default=False),
            description=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent", "rendered"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    wanted = iam.wanted_statements(p["statements"], p["transfer_access"], p["oke_access"])
    with module_guard(module, statements=wanted):
        if p["state"] != "absent" and not wanted:
            raise DatamoverError("policy %r: no statements: give statements, transfer_access or "
                                 "oke_access" % p["name"])
    if p["state"] == "rendered":
        module.exit_json(changed=False, statements=wanted, added=[], removed=[])
    with module_guard(module, statements=wanted):
        require_library("oci", HAS_OCI, str(OCI_IMPORT_ERROR))
        session = OciSession(p)
        result = iam.ensure_policy(session, p["compartment_id"], p["name"], wanted,
                                   p["description"], purge=p["purge_statements"], state=p["state"],
                                   check_mode=module.check_mode, new_description=NEW_DESCRIPTION)
    module.exit_json(statements=wanted, **result)


if __name__ == "__main__":
    main()

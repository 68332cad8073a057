#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_dynamic_group
short_description: Ensure the OCI dynamic group of the transfer (or OKE operator) hosts
version_added: "0.1.0"
description:
  - Creates or updates an OCI IAM dynamic group so that instance principals of the worker
    instances can be granted access by policy (the runbook's C(rclone-hosts)).
  - The matching rule is O(matching_rule) as given, or built from O(instance_compartments)
    and O(instance_tags) (an instance matching ANY of them belongs to the group).
  - Idempotent; supports check mode and diff mode (the matching rule before and after).
  - Needs a tenancy administrator's credentials (dynamic groups live in the tenancy).
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.oci
options:
  name:
    description: Name of the dynamic group.
    type: str
    required: true
  matching_rule:
    description: The matching rule, verbatim (mutually exclusive with O(instance_compartments) and O(instance_tags)).
    type: str
  instance_compartments:
    description: OCIDs of compartments whose instances belong to the group.
    type: list
    elements: str
    default: []
  instance_tags:
    description: Defined tags (namespace, key, value) whose instances belong to the group.
    type: list
    elements: dict
    default: []
    suboptions:
      namespace:
        description: Tag namespace.
        type: str
        required: true
      key:
        description: Tag key.
        type: str
        required: true
      value:
        description: Tag value.
        type: str
        required: true
  description:
    description: Description of the group.
    type: str
    default: datamover.fleet transfer hosts (instance principals)
  state:
    description:
      - C(present) creates or updates; C(absent) deletes.
      - C(rendered) only returns the matching rule, without calling OCI (no credentials needed).
    type: str
    choices: [present, absent, rendered]
    default: present
attributes:
  check_mode:
    support: full
    description: Reports what would change without calling create, update or delete.
  diff_mode:
    support: full
    description: Shows the name, matching rule and description before and after.
"""

EXAMPLES = r"""
- name: OCI | dynamic group of the transfer hosts (every instance of their compartment)
  datamover.fleet.oci_dynamic_group:
    name: rclone-hosts
    instance_compartments: [ocid1.compartment.oc1..aaaaworkers]

- name: OCI | dynamic group by instance tag
  datamover.fleet.oci_dynamic_group:
    name: rclone-hosts
    instance_tags:
      - {namespace: datamover, key: role, value: worker}
    config_profile: ADMIN
"""

RETURN = r"""
dynamic_group:
  description: The dynamic group as OCI returned it (after the change); in check mode, what it would be.
  returned: when state is present
  type: dict
  sample: {"id": "ocid1.dynamicgroup.oc1..aaaa", "name": "rclone-hosts",
           "matching_rule": "ANY {instance.compartment.id = 'ocid1.compartment.oc1..aaaa'}"}
matching_rule:
  description: The matching rule the module ensured.
  returned: when state is present or rendered
  type: str
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


def main():
    module = AnsibleModule(
        argument_spec=auth_args(
            name=dict(type="str", required=True),
            matching_rule=dict(type="str"),
            instance_compartments=dict(type="list", elements="str", default=[]),
            instance_tags=dict(type="list", elements="dict", default=[], options=dict(
                namespace=dict(type="str", required=True),
                key=dict(type="str", required=True, no_log=False),  # a tag key, not a secret
                value=dict(type="str", required=True))),
            description=dict(type="str", default="datamover.fleet transfer hosts (instance principals)"),
            state=dict(type="str", default="present", choices=["present", "absent", "rendered"]),
        ),
        mutually_exclusive=[("matching_rule", "instance_compartments"), ("matching_rule", "instance_tags")],
        supports_check_mode=True,
    )
    p = module.params
    rule = None
    if p["state"] != "absent":
        with module_guard(module):
            try:
                rule = iam.matching_rule(p["instance_compartments"], p["instance_tags"],
                                         p["matching_rule"])
            except ValueError as exc:
                raise DatamoverError("dynamic group %r: %s" % (p["name"], exc))
    if p["state"] == "rendered":
        module.exit_json(changed=False, matching_rule=rule)
    with module_guard(module, matching_rule=rule):
        require_library("oci", HAS_OCI, str(OCI_IMPORT_ERROR))
        session = OciSession(p)
        result = iam.ensure_dynamic_group(session, p["name"], rule, p["description"], p["state"],
                                          module.check_mode)
    if rule is not None:
        result["matching_rule"] = rule
    module.exit_json(**result)


if __name__ == "__main__":
    main()

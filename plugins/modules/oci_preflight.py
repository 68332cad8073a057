#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: oci_preflight
short_description: Check that this host can write to an OCI bucket (instance principal preflight)
version_added: "0.1.0"
description:
  - Run on each worker before a migration to OCI Object Storage. In order - the host's identity
    (instance principal, or a config file), the Object Storage namespace, the bucket, and a probe
    object written then deleted.
  - Each failure says which cause it is - not on OCI, no dynamic-group match, bucket missing (or
    in another region), policy missing (and the statement to add), wrong namespace.
  - Creating a missing bucket is an explicit decision - O(create_bucket) is off by default.
  - In check mode nothing is written - no probe, no bucket.
author: datamover.fleet contributors (@datamover)
extends_documentation_fragment:
  - datamover.fleet.oci
options:
  bucket:
    description: Name of the bucket the migration writes to.
    type: str
    required: true
  namespace:
    description: Expected Object Storage namespace (the rclone remote's); checked against the tenancy's.
    type: str
  compartment_id:
    description:
      - OCID of the bucket's compartment. Needed to create the bucket, and to tell a missing
        bucket from a missing policy.
    type: str
  create_bucket:
    description: Create the bucket (private, standard tier) in O(compartment_id) when it does not exist.
    type: bool
    default: false
  probe:
    description: Write a small probe object and delete it.
    type: bool
    default: true
  probe_prefix:
    description: Prefix of the probe object's name (e.g. the migration's prefix in the bucket).
    type: str
    default: ""
  dynamic_group:
    description: Name of the workers' dynamic group, used in the policy statements the messages suggest.
    type: str
    default: rclone-hosts
  compartment_name:
    description: Name (or path) of the bucket's compartment, used in the policy statements the messages suggest.
    type: str
    default: storage
attributes:
  check_mode:
    support: full
    description: Reads only; reports whether the bucket would be created.
  diff_mode:
    support: none
    description: Nothing to show - the only change it can make is creating the bucket.
"""

EXAMPLES = r"""
- name: Preflight | this worker can write to the bucket with its instance principal
  datamover.fleet.oci_preflight:
    auth_type: instance_principal
    bucket: ml-checkpoints
    namespace: axaxnpcrorw5
    compartment_id: ocid1.compartment.oc1..aaaastorage
  vars:
    ansible_python_interpreter: /opt/datamover/oci-cli/bin/python
"""

RETURN = r"""
namespace:
  description: The tenancy's Object Storage namespace.
  returned: success
  type: str
region:
  description: The region checked.
  returned: success
  type: str
bucket:
  description: The bucket as OCI returned it (null in check mode when it would be created).
  returned: success
  type: dict
created:
  description: Whether the bucket was (or, in check mode, would be) created.
  returned: success
  type: bool
probe:
  description: C(written and deleted), or C(skipped).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.datamover.fleet.plugins.module_utils.oci import object_storage
from ansible_collections.datamover.fleet.plugins.module_utils.oci.client import (
    HAS_OCI,
    OCI_IMPORT_ERROR,
    OciSession,
    auth_args,
)
from ansible_collections.datamover.fleet.plugins.module_utils.errors import require_library
from ansible_collections.datamover.fleet.plugins.module_utils.module_glue import module_guard


def main():
    module = AnsibleModule(
        argument_spec=auth_args(
            bucket=dict(type="str", required=True),
            namespace=dict(type="str"),
            compartment_id=dict(type="str"),
            create_bucket=dict(type="bool", default=False),
            probe=dict(type="bool", default=True),
            probe_prefix=dict(type="str", default=""),
            dynamic_group=dict(type="str", default="rclone-hosts"),
            compartment_name=dict(type="str", default="storage"),
        ),
        required_if=[("create_bucket", True, ("compartment_id",))],
        supports_check_mode=True,
    )
    p = module.params
    with module_guard(module):
        require_library("oci", HAS_OCI, str(OCI_IMPORT_ERROR))
        session = OciSession(p)
        result = object_storage.check_bucket(
            session, p["bucket"], compartment_id=p["compartment_id"], namespace=p["namespace"],
            create=p["create_bucket"], probe=p["probe"], prefix=p["probe_prefix"],
            check_mode=module.check_mode, dynamic_group=p["dynamic_group"],
            compartment_name=p["compartment_name"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  auth_type:
    description:
      - How to authenticate to OCI.
      - C(config_file) signs with the API key of an OCI config file (O(config_file), O(config_profile)).
      - C(instance_principal) uses the identity of the OCI instance the module runs on (no key on
        the host); the instance must match a dynamic group.
    type: str
    choices: [config_file, instance_principal]
    default: config_file
  config_file:
    description: OCI config file (O(auth_type=config_file)). It holds the path of the private key; keep both mode 0600.
    type: path
    default: ~/.oci/config
  config_profile:
    description: Profile of O(config_file).
    type: str
    default: DEFAULT
  region:
    description:
      - OCI region, e.g. C(eu-frankfurt-1). Default - the profile's region, or the instance's own.
    type: str
  endpoint:
    description:
      - Service endpoint URL to use instead of the region's, e.g. a private endpoint.
      - The tests point it at a local fake OCI server.
    type: str
requirements:
  - oci (the OCI Python SDK) on the host the module runs on
notes:
  - Every OCI error is reported as one message saying what failed, for which resource, and
    what to do, with the OCI request id.
"""

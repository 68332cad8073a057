# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    # The one description of how the k8s modules reach the cluster (spec: k8s_client.AUTH_ARGS).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Kubeconfig file (default C(KUBECONFIG), C(~/.kube/config), or in-cluster).
    type: path
  context:
    description: Kubeconfig context.
    type: str
"""

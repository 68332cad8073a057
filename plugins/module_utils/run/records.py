# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records of the run directory, with one writer and one reader each.

A partition's result (results/NNNNNN.json) is written by the worker slot that settles it and
read by the report; both go through PartResult, so its fields are declared here only.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


def read_manifest_bytes(data):
    """Parse a manifest: ([(kind, size, mtime_ns, relpath_bytes)], [whole dir relpaths],
    [tree relpaths]).

    "D" and "T" records are not entries. A "D" record says that the entries following it are
    the whole content of that directory (see crawl.DirScan.whole); a "T" record, that every
    entry under that directory is in this partition (partitioner.PartWriter.trees)."""
    out, whole, trees = [], [], []
    for record in data.split(b"\0"):
        if not record:
            continue
        head, _tab, path = record.partition(b"\t")
        kind, size, mtime_ns = head.split(b" ", 3)[:3]  # [3:]: rsync's mode/uid/gid
        if kind == b"D":
            whole.append(path)
        elif kind == b"T":
            trees.append(path)
        else:
            out.append((kind.decode("ascii"), int(size), int(mtime_ns), path))
    return out, whole, trees


def path_record(relpath, reason, cls, attempt, part=None):
    """One file not copied, as a JSON-safe record: ``path`` is the name as text (bytes that
    are not UTF-8 shown as \\xNN) and ``path_hex`` its exact bytes when the text cannot say
    them."""
    rec = {"path": relpath.decode("utf-8", "backslashreplace"), "reason": reason,
           "class": cls, "attempt": attempt}
    try:
        relpath.decode("utf-8")
    except UnicodeDecodeError:
        rec["path_hex"] = relpath.hex()
    if part is not None:
        rec["partition"] = part
    return rec


@dataclass
class Attempt:
    attempt: int
    host: str
    rc: int | None = None
    error: str | None = None
    seconds: float = 0.0
    log: str | None = None          # relative to the run directory
    traceback: str | None = None    # only for internal errors
    files: int | None = None        # entries this attempt moved (a retry: only what failed)
    failure_class: str | None = None  # transient | deterministic, when it failed

    def to_dict(self):
        data = asdict(self)
        if data["traceback"] is None:
            del data["traceback"]
        return data


@dataclass
class PartResult:
    part: int
    status: str                      # done | failed
    host: str
    token: str
    attempts: list = field(default_factory=list)   # [Attempt]
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    finished: float = field(default_factory=time.time)
    skipped: list = field(default_factory=list)    # [[relpath, reason]] left out by policy
    verified: dict | None = None                   # Verification.as_dict()
    # Every entry of the partition that is not at the destination: path_record()s, however
    # many (the report's not-copied list is made of these).
    not_copied: list = field(default_factory=list)
    # Files a directory moved whole carried along that the plan does not hold (added to the
    # source after the crawl): counted, not named (the next incremental pass records them).
    not_in_plan: int = 0
    # datamover_plan_only: what the partition holds (work/survey.py), instead of a transfer
    survey: dict | None = None

    @property
    def last_error(self):
        return self.attempts[-1].error if self.attempts else None

    def to_dict(self):
        data = asdict(self)
        data["attempts"] = [a.to_dict() for a in self.attempts]
        return data

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        attempts = [Attempt(**{k: v for k, v in a.items() if k in Attempt.__dataclass_fields__})
                    for a in data.get("attempts") or []]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["attempts"] = attempts
        known.setdefault("status", "failed")
        known.setdefault("host", "?")
        known.setdefault("token", "")
        return cls(**known)

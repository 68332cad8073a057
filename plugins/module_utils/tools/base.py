# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract between the worker loop and a transfer tool.

A tool is one subclass of TransferTool plus one line in tools/__init__.py's registry. The
worker calls, per partition: ``recover`` (only when an earlier attempt may have been killed),
``prepare``, then for each attempt ``commands`` and ``verify``; preflight calls
``check_destination``; the run's cleanup step calls ``cleanup``.
"""
from __future__ import annotations

import abc
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field

from ansible_collections.datamover.fleet.plugins.module_utils.errors import ToolError
from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private

__all__ = ["AUDIT_CLASSES", "DETERMINISTIC", "audit_class", "SOURCE_CHANGED", "TRANSIENT", "ToolError", "TransferTool", "Verification",
           "missing_reason", "option_problems", "parse_version", "source_change", "source_vanished"]


# Why a file did not arrive, as far as a retry is concerned: a transient failure (a timeout,
# a 5xx/429, a killed tool, a lost lease) may pass on the next attempt; a deterministic one (the
# store holds the object under another name, a name too long or unencodable, an unreadable
# source file) fails the same way every time, so it is reported at once and not retried.
TRANSIENT = "transient"
DETERMINISTIC = "deterministic"
# A file that changed in the source after the crawl recorded it: what the destination holds is
# not the planned version, so it is not "verified"; no retry of this run can fix that (the
# plan is fixed), an incremental pass (datamover_since) moves the new version.
SOURCE_CHANGED = "source changed"


# What an audit (datamover_audit) calls each difference it finds, by the verification's reason;
# other reasons (an unreadable source file, a name the store rewrites) keep their class.
AUDIT_CLASSES = (("missing at destination", "missing"), ("size ", "other size"),
                 ("content differs", "other content"), ("mtime differs", "other mtime"),
                 ("not a ", "other kind"), ("symlink target differs", "other target"))


def audit_class(reason, cls):
    for prefix, name in AUDIT_CLASSES:
        if reason.startswith(prefix):
            return name
    return cls


@dataclass
class Verification:
    files: int = 0
    bytes: int = 0
    mismatches: list = field(default_factory=list)   # [relpath, reason]
    vanished: list = field(default_factory=list)     # gone from the source since the crawl
    changed: list = field(default_factory=list)      # [relpath, reason] changed since the crawl
    unrepresentable: list = field(default_factory=list)  # names the destination cannot hold
    # Every entry that is not at the destination as it should be: (entry, reason, class). The
    # worker retries the transient ones alone and names every one in the run's report.
    failed: list = field(default_factory=list)
    # datamover_verify=checksum: files whose content was compared (from the listing's hashes),
    # and how many of those needed a read of the object (a hash the listing could not give).
    content_checked: int = 0
    content_fallback: int = 0
    to_check: list = field(default_factory=list)  # (entry, name) awaiting the content check

    def fail(self, entry, reason, cls=TRANSIENT):
        self.mismatches.append([os.fsdecode(entry[3]), reason])
        self.failed.append((entry, reason, cls))

    def source_moved_on(self, entry, source):
        """Called on the failure path only (an entry that did not verify): True when the
        source itself no longer matches the manifest entry, which is then noted as vanished or
        changed, not failed. One lstat of the source file; the success path costs nothing."""
        change = source_change(source, entry)
        if change is None:
            return False
        if change == "vanished":
            self.vanished.append(os.fsdecode(entry[3]))
        else:
            self.changed.append([os.fsdecode(entry[3]), change])
        return True

    def cannot_hold(self, entry, reason):
        """A name the destination cannot hold: not copied, reported, and not retried (no
        attempt can change that); it does not fail the partition."""
        self.unrepresentable.append([os.fsdecode(entry[3]), reason])

    def as_dict(self, cap=50):
        return {
            "files": self.files, "bytes": self.bytes,
            "mismatches": len(self.mismatches), "mismatch_samples": self.mismatches[:cap],
            "vanished": len(self.vanished), "vanished_samples": self.vanished[:cap],
            "changed": len(self.changed), "changed_samples": self.changed[:cap],
            "unrepresentable": len(self.unrepresentable),
            "unrepresentable_samples": self.unrepresentable[:cap],
            "content_checked": self.content_checked, "content_fallback": self.content_fallback,
        }


def missing_reason(source, rel):
    """(reason, class) for a file that is missing at the destination and still in the source.

    Called on the failure path only. A source file this host cannot read stays unreadable on
    the next attempt; anything else (a timeout, an interrupted transfer) may not."""
    try:
        fd = os.open(os.path.join(os.fsencode(source), rel), os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError as exc:
        return "source file unreadable (%s)" % exc.strerror, DETERMINISTIC
    except OSError:
        return "missing at destination", TRANSIENT
    os.close(fd)
    return "missing at destination", TRANSIENT


class TransferTool(abc.ABC):
    """One transfer tool. Subclasses set ``name`` and ``min_version`` and implement the rest."""

    name = ""
    min_version = (0, 0, 0)
    # Non-zero exit codes after which the tool still moved what it could: verification decides.
    soft_exit_codes = ()
    # The tool's own policy on datamover_tool_options (read by option_problems):
    # refused_options: "--long-name" -> what to use instead. An option that deletes or moves
    #   anything, writes outside the destination, changes what is compared or copied, or makes
    #   a dry run would turn a "verified" run into a lie; the advice names the switch that
    #   does the job properly.
    refused_options = {}
    # refused_short: one-letter option -> its long name in refused_options (also inside a
    #   bundle such as -avn).
    refused_short = {}
    # Options that take a value as the next argument: that argument is not an option.
    long_with_value = frozenset()
    short_with_value = frozenset()
    # Whether the tool sends requests to an object store (a request budget applies to it).
    sends_requests = False
    # Whether an argument that is not an option is refused (rsync would take it as one
    # more source to copy).
    refuse_positional = False
    # Set for an audit (datamover_audit): the adapter must write nothing at the destination.
    read_only = False

    @classmethod
    def split_secrets(cls, destination, options):
        """(destination, options, env): credentials taken out of the destination and the
        options into environment variables the tool reads, so that they never reach run.json,
        a log, a report or a process's arguments. Tools without such syntax keep everything."""
        return destination, list(options or []), {}

    @classmethod
    def option_problems(cls, options):
        """Sentences, one per refused entry of ``options`` (datamover_tool_options)."""
        return option_problems(cls, options)

    @classmethod
    def run_settings(cls, meta):
        """What run.json records of how this tool writes, beside the plan's options."""
        del meta
        return {}

    @classmethod
    @abc.abstractmethod
    def from_meta(cls, meta, binary, config=None):
        """Build the adapter for a run from its run.json (and this host's binary/config)."""

    @classmethod
    @abc.abstractmethod
    def check_destination(cls, destination, binary, config=None, probe=True, options=()):
        """Problems (sentences) with the destination seen from this host. probe: True =
        check, then write and remove something there; False = read-only checks; "only" =
        the write alone (this host's read-only checks passed already: no second bucket LIST)."""

    @abc.abstractmethod
    def prepare(self, entries, workdir, whole_dirs=(), trees=()):
        """Write what the tool reads for a partition. Returns (list_path, skipped), skipped
        being [relpath, reason] of entries left out by policy. ``whole_dirs`` are directories
        whose whole content is in ``entries``: a tool may move them as units. ``trees`` are
        directories whose whole subtree is (less excluded entries): a tool may list them as
        units when it verifies, never move them (that would carry the excluded along)."""

    @abc.abstractmethod
    def commands(self, list_path, workdir, retry=False):
        """argv lists (never shell strings) that move one partition."""

    def describe(self, argv):
        """The argv as an attempt's log shows it (a tool may shorten long path lists)."""
        return argv

    def combine(self, list_paths, workdir):
        """One list that moves several partitions in one transfer (a worker's batch). The
        lists of both tools are sequences of terminated names, so they concatenate; a tool
        whose lists do not overrides this."""
        path = os.path.join(workdir, "batch-" + os.path.basename(list_paths[0]))
        with open_private(path, 0o600, append=False) as out:
            for list_path in list_paths:
                with open(list_path, "rb") as handle:
                    shutil.copyfileobj(handle, out)
        return path

    @abc.abstractmethod
    def verify(self, entries, list_path, log):
        """Compare the destination with the manifest entries, independently of the tool."""

    def progress(self, entries, log_path, memo):
        """(files, bytes) this attempt has moved so far, or None when the tool cannot tell.

        Called about once a second by the worker's progress thread, and only for a transfer
        that has run longer than that: off the hot path, and never for a short partition.
        ``entries`` are what the attempt moves; ``memo`` is a dict kept between the calls of
        one attempt."""
        del entries, log_path, memo
        return None

    def carried(self, log_path):
        """How many files and symlinks the tool's own walk of an attempt met (rsync's
        --stats), or None when the tool moves named files only. Read once per transfer,
        never per file: a directory moved whole carries files added after the crawl."""
        del log_path
        return None

    # Tool processes one slot may run at once: its transfer, and behind it the verification
    # (or the retry) of the batch before (worker._process). A request budget is split by this.
    PROCESSES_PER_SLOT = 2

    def name_problem(self, kind, rel):
        """Why the destination cannot hold this entry under its name (None: it can)."""
        del kind, rel
        return None

    def list_destination(self):
        """Every name at the destination (bytes, relative to it, as destination_name gives
        them), streamed: datamover_audit_extra's one listing of the whole destination."""
        raise ToolError("%s cannot list its destination" % self.name)

    def limit_requests(self, per_process):
        """Cap every process this adapter starts at ``per_process`` requests a second to the
        destination (0 = no cap). Tools that send no requests (rsync to a file system) keep
        this no-op; preflight refuses a budget for them."""
        del per_process

    def recover(self, entries):
        """Remove what an attempt killed mid-way (lost host) may have left at the destination.
        Returns how many leftovers were removed."""
        del entries
        return 0

    def remove_copies(self, entries, workdir, log):
        """Remove from the destination what this run wrote for ``entries`` (manifest
        entries of one partition whose source directory changed under the transfer: what
        arrived may be content from outside the source). Only these entries' own names, and
        never through a symlink. Returns how many were removed; raises ToolError or OSError
        when it could not."""
        del entries, workdir, log
        return 0

    def cleanup(self):
        """End of the run: remove anything of ours left at the destination."""

    def abort_own_uploads(self, started, planned_names):
        """End of the run: abort the unfinished multipart uploads this run left (a transfer
        killed mid-file), and only those: initiated at ``started`` (epoch seconds) or later,
        named for a file of the plan (``planned_names()`` returns the set of names, relative
        to the destination, as the tool writes them). Returns a record (uploads.json) or None
        when the tool makes no multipart uploads."""
        del started, planned_names
        return None


def option_problems(tool, options):
    """Check datamover_tool_options against ``tool``'s policy. Every way the tool itself
    reads an option is covered: --opt, --opt=value, --opt value, and short options alone or
    bundled (-avn holds -n); a short option that takes a value ends its bundle."""
    problems = []
    expect_value = False
    for arg in options or []:
        arg = str(arg)
        if expect_value:
            expect_value = False
            continue
        if arg == "--":
            problems.append("datamover_tool_options: '--' is refused: %s would take every "
                            "argument after it as a path to copy" % tool.name)
        elif arg.startswith("--"):
            name = arg.split("=", 1)[0]
            problems += _refused(tool, name, arg)
            expect_value = "=" not in arg and name in tool.long_with_value
        elif arg.startswith("-") and len(arg) > 1:
            for i, letter in enumerate(arg[1:]):
                if letter in tool.refused_short:
                    problems += _refused(tool, tool.refused_short[letter], arg,
                                         short="-" + letter)
                if letter in tool.short_with_value:
                    expect_value = i == len(arg) - 2  # -T DIR; -TDIR holds its value
                    break
        elif tool.refuse_positional:
            problems.append("datamover_tool_options: %r is not an option: %s would take it as "
                            "one more path to copy. Give options only (a value as --opt=value)"
                            % (arg, tool.name))
    return problems


def _refused(tool, name, arg, short=None):
    advice = tool.refused_options.get(name)
    if advice is None:
        return []
    said = "%s (%s)" % (short, name) if short else name
    shown = "" if arg in (name, short) else " in %r" % (arg,)
    return ["datamover_tool_options: %s %s%s is refused: %s" % (tool.name, said, shown, advice)]


def source_change(source, entry):
    """How the source differs now from the crawl's record of ``entry`` (kind, size, mtime_ns,
    relpath): "vanished", a sentence saying what changed, or None when it still matches."""
    kind, size, mtime_ns, rel = entry
    try:
        st = os.lstat(os.path.join(os.fsencode(source), rel))
    except FileNotFoundError:
        return "vanished"
    except OSError:
        return None  # unreadable is another story (missing_reason says it)
    if kind == "d":
        return None if stat.S_ISDIR(st.st_mode) else "no longer a directory"
    if kind == "l":
        return None if stat.S_ISLNK(st.st_mode) else "no longer a symlink"
    if not stat.S_ISREG(st.st_mode):
        return "no longer a regular file"
    bits = []
    if st.st_size != size:
        bits.append("size %d -> %d" % (size, st.st_size))
    if st.st_mtime_ns != mtime_ns:
        bits.append("modified %s" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)))
    if not bits:
        return None
    return "changed in the source during the run (%s)" % ", ".join(bits)


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


def run_quiet(argv, stdin=None, env=None, timeout=300):
    """Run a short command; (rc, stdout, stderr) as bytes."""
    proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False, timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def last_line(data):
    lines = [x for x in data.decode("utf-8", "replace").splitlines() if x.strip()]
    return lines[-1] if lines else "no output"

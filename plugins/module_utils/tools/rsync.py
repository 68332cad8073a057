# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync adapter: POSIX to POSIX, one partition (or a slot's batch of them) = one ``rsync -R``
whose sources are the partition's paths."""
from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import uuid

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import first_non_dir, open_private
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    DETERMINISTIC,
    TransferTool,
    Verification,
    missing_reason,
)

LEGACY_TEMP_DIR = ".datamover-tmp"  # where runs before 0.2 kept rsync's temp files
MIN_VERSION = (3, 1, 0)  # nanosecond mtimes
# rsync writes <dir>/.<name>.XXXXXX and renames it into place; a long name is cut so that the
# temp name fits NAME_MAX (255) with the dot and the 7-character suffix.
_TEMP_SUFFIX = 7
_NAME_MAX = 255
_PATH_MAX = 4096  # Linux: a longer destination path cannot be created, whatever the retries
# Bytes of path arguments per rsync process: well under Linux's ARG_MAX (2 MiB with an 8 MiB
# stack, shared with the environment); a longer list is moved by several rsyncs in turn.
_ARGV_BUDGET = 1 << 20
MISSING = "missing at destination"


_NEVER_DELETE = ("datamover copies and verifies, it never deletes; remove the source or stale "
                 "destination files yourself once report.json says SUCCEEDED")
_NO_DRY_RUN = ("a dry run copies nothing, so verification would fail every file; to see what "
               "would move, run the partition module (the plan) or preflight alone")
_OUTSIDE = "it writes outside the destination"
_COMPARE = ("it changes which files rsync copies, and verification would report what it "
            "skipped as missing; to move only what changed, resume with the same "
            "datamover_run_id")
_FILTER = "use datamover_excludes: excluded files are left out of the plan, not reported missing"
_TEMP = ("datamover manages rsync's temp files itself (a killed attempt's leftovers are removed "
         "before the partition is tried again)")
_LINKS = "it changes what a symlink becomes, and verification expects symlinks kept as symlinks"
_STRUCTURE = "it changes where files land, and verification would report every file missing"


class RsyncTool(TransferTool):
    """POSIX to POSIX: one ``rsync -R`` whose sources are the partition's paths, then an lstat
    of every file at the destination to verify it (size and mtime, or content with
    ``verify: checksum``)."""

    name = "rsync"
    min_version = MIN_VERSION
    soft_exit_codes = (24,)  # "some files vanished before they could be transferred"
    refused_options = {
        **dict.fromkeys(("--remove-source-files", "--remove-sent-files", "--delete", "--del",
                         "--delete-before", "--delete-during", "--delete-delay",
                         "--delete-after", "--delete-excluded", "--delete-missing-args",
                         "--max-delete", "--force"), _NEVER_DELETE),
        "--dry-run": _NO_DRY_RUN,
        "--list-only": _NO_DRY_RUN,
        "--only-write-batch": _NO_DRY_RUN + "; and " + _OUTSIDE,
        "--write-batch": _OUTSIDE + " (a batch file)",
        "--read-batch": "it copies a recorded batch instead of the plan's partition",
        "--log-file": _OUTSIDE + "; each attempt's output is kept in <run dir>/logs",
        **dict.fromkeys(("--backup", "--backup-dir", "--suffix"),
                        "backup copies would land beside (or outside) the destination and are "
                        "not in the plan; back up the destination before the run if needed"),
        **dict.fromkeys(("--temp-dir", "--partial-dir"), _TEMP),
        **dict.fromkeys(("--compare-dest", "--copy-dest", "--link-dest"),
                        "it makes rsync skip files found in another directory (" + _OUTSIDE
                        + " for --link-dest/--copy-dest); to move only what changed, resume "
                        "with the same datamover_run_id"),
        **dict.fromkeys(("--existing", "--ignore-non-existing", "--ignore-existing",
                         "--update", "--size-only", "--append", "--append-verify",
                         "--max-size", "--min-size"), _COMPARE),
        "--checksum": ("it changes how rsync compares files; for a content check of every "
                       "file use datamover_verify=checksum"),
        **dict.fromkeys(("--exclude", "--include", "--filter", "--exclude-from",
                         "--include-from", "--cvs-exclude"), _FILTER),
        "--files-from": "datamover gives rsync each partition's file list; " + _FILTER,
        **dict.fromkeys(("--copy-links", "--copy-unsafe-links", "--safe-links",
                         "--copy-dirlinks", "--keep-dirlinks", "--munge-links"), _LINKS),
        **dict.fromkeys(("--no-relative", "--no-R", "--no-recursive", "--no-r",
                         "--one-file-system"), _STRUCTURE),
        **dict.fromkeys(("--server", "--sender", "--daemon", "--config"),
                        "it is rsync's internal or daemon mode, not a transfer option"),
    }
    refused_short = {"n": "--dry-run", "b": "--backup", "u": "--update", "c": "--checksum",
                     "T": "--temp-dir", "f": "--filter", "F": "--filter", "C": "--cvs-exclude",
                     "L": "--copy-links", "k": "--copy-dirlinks", "K": "--keep-dirlinks",
                     "x": "--one-file-system"}
    short_with_value = frozenset("eBfTM@")
    long_with_value = frozenset((
        "--rsh", "--rsync-path", "--bwlimit", "--timeout", "--contimeout", "--chmod", "--chown",
        "--usermap", "--groupmap", "--block-size", "--compress-level", "--compress-choice",
        "--checksum-choice", "--checksum-seed", "--modify-window", "--out-format",
        "--log-file-format", "--info", "--debug", "--stderr", "--iconv", "--max-alloc",
        "--skip-compress", "--remote-option", "--port", "--sockopts", "--outbuf", "--address",
        "--stop-after", "--stop-at", "--time-limit", "--protocol", "--early-input",
        "--password-file", "--copy-as", "--zc", "--cc",
        # refused, but their value must not be read as one more path as well
        "--exclude", "--include", "--filter", "--exclude-from", "--include-from",
        "--files-from", "--temp-dir", "--partial-dir", "--backup-dir", "--suffix",
        "--compare-dest", "--copy-dest", "--link-dest", "--max-size", "--min-size",
        "--log-file", "--write-batch", "--only-write-batch", "--read-batch", "--max-delete",
        "--config",
    ))
    refuse_positional = True

    def __init__(self, source, destination, options=(), binary="rsync", verify="size"):
        self.source = source.rstrip("/") + "/"
        self.destination = destination.rstrip("/") + "/"
        self.options = list(options or [])
        self.binary = binary
        self.verify_mode = verify
        self._destination_made = False

    @classmethod
    def from_meta(cls, meta, binary, config=None):
        del config
        return cls(meta["source"], meta["destination"], options=meta.get("tool_options") or [],
                   binary=binary, verify=meta.get("verify", "size"))

    @classmethod
    def check_destination(cls, destination, binary, config=None, probe=True, options=()):
        del binary, config, options
        if not destination or not os.path.isabs(destination):
            return ["with rsync, datamover_destination must be an absolute path (got %r)"
                    % (destination,)]
        parent = os.path.dirname(destination.rstrip("/")) or "/"
        if os.path.lexists(destination) and not os.path.isdir(destination):
            # rsync would fail on every partition (and the worker count it a transient
            # failure): refused here, naming what is in the way.
            what = "a symlink to nothing" if not os.path.exists(destination) else \
                "a regular file" if os.path.isfile(destination) else "not a directory"
            return ["destination %s exists and is %s: rsync copies into a directory. Give the "
                    "path of a directory (or of one to create), or move the file away"
                    % (destination, what)]
        if not os.path.isdir(destination) and not os.path.isdir(parent):
            return ["destination %s does not exist and neither does its parent %s: "
                    "create the parent directory first" % (destination, parent)]
        if not probe:
            return []
        # Probe where rsync will write: inside the destination, or in its parent when rsync
        # is to create it. A unique name, and no mkdir/rmdir of a directory other workers may
        # be probing at the same moment.
        where = destination if os.path.isdir(destination) else parent
        try:
            path = os.path.join(where, ".datamover-probe-%s" % uuid.uuid4().hex)
            with open(path, "w") as handle:
                handle.write("probe")
            os.unlink(path)
        except OSError as exc:
            return ["destination %s is not writable here (%s)" % (destination, exc.strerror)]
        return []

    def prepare(self, entries, workdir, whole_dirs=(), trees=()):
        """The partition's paths, NUL-terminated, in a list file (batches concatenate lists).
        A directory whose whole content is in the partition is listed once and walked by
        rsync, which costs it less than 2,048 names."""
        whole = set(whole_dirs)
        names = list(whole_dirs)
        if whole:
            names += [e[3] for e in entries if e[3].rpartition(b"/")[0] not in whole]
        else:
            names = [e[3] for e in entries]
        list_path = os.path.join(workdir, "paths0.txt")
        with open_private(list_path, 0o600, append=False) as handle:
            handle.write(b"".join(name + b"\0" for name in names))
        if not self._destination_made and not self.read_only:
            # Several rsyncs starting at once into a destination that does not exist yet race
            # to create it, and the losers fail ("mkdir failed: File exists", code 11) and are
            # sent again: create it once per worker, before the first transfer.
            os.makedirs(self.destination, exist_ok=True)
            self._destination_made = True
        return list_path, []

    def commands(self, list_path, workdir, retry=False):
        """argv lists for one attempt: the listed paths are rsync's sources, as
        ``<source>/./<path>`` with -R (the path below ``/./`` is kept at the destination).

        Why not ``--files-from``: rsync reads that list one byte per system call and walks it
        without incremental recursion; measured on T1 (100,000 files), the same paths as
        arguments cost 40% less CPU (5.6 s vs 9.1 s) and move 1.3-1.8x faster. Arguments
        are safe for any name: they are absolute (no ``host:`` reading), follow ``--``, and
        rsync expands no pattern in a local path. A list longer than the argument budget is
        moved by several rsyncs in turn.

        rsync's own temp files (.<name>.XXXXXX beside each file, renamed into place) are
        kept: a killed rsync's leftovers are removed by recover() before the partition is
        attempted again (a --temp-dir costs 80% per partition)."""
        del workdir  # rsync skips what is already identical on its own
        with open(list_path, "rb") as handle:
            names = handle.read().split(b"\0")[:-1]
        head = [self.binary, "-a", "-R", "--numeric-ids", "--stats"]
        if retry and self.verify_mode == "checksum":
            # What a retry holds failed verification; a file whose content differs has the
            # right size and mtime, and rsync's quick check would skip it again.
            head.append("--ignore-times")
        head += self.options + ["--"]
        prefix = os.fsencode(os.path.normpath(self.source)).rstrip(b"/") + b"/./"
        fixed = sum(len(os.fsencode(a)) + 9 for a in head) + len(self.destination) + 9
        argvs, chunk, used = [], [], fixed
        for name in names:
            cost = len(prefix) + len(name) + 9  # the string, its NUL and its pointer
            if chunk and used + cost > _ARGV_BUDGET:
                argvs.append(head + chunk + [self.destination])
                chunk, used = [], fixed
            chunk.append(prefix + name)
            used += cost
        if chunk:
            argvs.append(head + chunk + [self.destination])
        return argvs

    def describe(self, argv):
        """The argv as the attempt's log shows it: the paths are in the list file, and
        thousands of them would bury rsync's output."""
        dashdash = argv.index("--")
        paths = len(argv) - dashdash - 2
        return argv[:dashdash + 1] + ["<%d path%s of the partition list>" % (
            paths, "" if paths == 1 else "s"), argv[-1]]

    def carried(self, log_path, limit=1 << 20):
        """rsync's --stats count of regular files and symlinks in its file lists: the sum of
        the "Number of files: N (reg: R, dir: D, link: L)" lines of the attempt's log (one
        per rsync: a long partition list is moved by several in turn)."""
        try:
            if os.path.getsize(log_path) > limit:
                return None  # not a log of stats only: do not guess
            with open(log_path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        lines = re.findall(rb"^Number of files: [^\n]*", data, re.M)
        if not lines:
            return None
        return sum(int(re.sub(rb"[,.]", b"", v)) for line in lines
                   for _kind, v in re.findall(rb"(reg|link): ([\d,.]+)", line))

    def recover(self, entries):
        """Remove the temp files an rsync killed mid-partition (SIGKILL, lost host) left
        beside the partition's files. A candidate is removed only when its name is rsync's
        temp name of one of the partition's files and no such name exists in the source."""
        by_dir = {}
        for kind, _size, _mtime, rel in entries:
            if kind == "f":
                head, _sep, name = rel.rpartition(b"/")
                by_dir.setdefault(head, set()).add(name)
        src, dst = os.fsencode(self.source), os.fsencode(self.destination)
        removed = 0
        for head, names in by_dir.items():
            try:
                listing = os.listdir(os.path.join(dst, head) if head else dst)
            except OSError:
                continue
            for candidate in listing:
                if not _is_temp_of(candidate, names):
                    continue
                rel = head + b"/" + candidate if head else candidate
                if os.path.lexists(os.path.join(src, rel)):
                    continue  # a real file of the source that only looks like a temp name
                try:
                    os.unlink(os.path.join(dst, rel))
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def progress(self, entries, log_path, memo, budget=256):
        """Files that have arrived, from the destination itself: rsync's own progress output
        (--info=progress2) costs 20-45% on a partition of small files, so it stays off. rsync
        renames a file into place once it is complete, so a file of the right size at its
        name has arrived. At most ``budget`` lstat calls per call, walking on from where the
        previous call stopped, so a long partition costs a bounded trickle of metadata."""
        del log_path
        files = [e for e in entries if e[0] != "d"]
        arrived = memo.setdefault("arrived", set())
        cursor, checked, dst = memo.get("cursor", 0), 0, os.fsencode(self.destination)
        while checked < budget and len(arrived) < len(files):
            index = cursor % len(files)
            cursor += 1
            if index in arrived:
                continue
            checked += 1
            kind, size, _mtime, rel = files[index]
            try:
                st = os.lstat(os.path.join(dst, rel))
            except OSError:
                continue
            if kind != "f" or st.st_size == size:
                arrived.add(index)
                memo["bytes"] = memo.get("bytes", 0) + size
        memo["cursor"] = cursor
        return len(arrived), memo.get("bytes", 0)

    def remove_copies(self, entries, workdir, log):
        """Files are removed through real directories only; a symlink where the plan has a
        directory is removed when it is the source's symlink, copied by rsync (a directory
        moved whole that became a symlink arrives as that symlink)."""
        del workdir, log
        src, dst = os.fsencode(self.source), os.fsencode(self.destination)
        cache, links, removed = {}, set(), 0
        for kind, _size, _mtime, rel in entries:
            bad = first_non_dir(dst, rel if kind == "d" else rel.rpartition(b"/")[0], cache)
            if bad is not None:
                if bad[1] is not None and stat.S_ISLNK(bad[1].st_mode):
                    links.add(bad[0])
                continue  # missing: nothing arrived; a file: not ours to remove
            if kind == "d":
                continue
            target = os.path.join(dst, rel)
            try:
                if not stat.S_ISDIR(os.lstat(target).st_mode):
                    os.unlink(target)
                    removed += 1
            except FileNotFoundError:
                pass
        for link in sorted(links):
            try:
                if os.readlink(os.path.join(dst, link)) == os.readlink(os.path.join(src, link)):
                    os.unlink(os.path.join(dst, link))
                    removed += 1
            except OSError:
                pass  # not the source's link: not ours
        return removed

    def cleanup(self):
        """Runs of earlier versions kept temp files in one directory: remove it."""
        legacy = os.path.join(self.destination, LEGACY_TEMP_DIR)
        if os.path.isdir(legacy) and not os.path.islink(legacy):
            shutil.rmtree(legacy, ignore_errors=True)

    def destination_name(self, kind, rel):
        del kind
        return rel

    def list_destination(self):
        """Every directory, file and symlink under the destination (a walk)."""
        root = os.fsencode(self.destination)
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root)
            prefix = b"" if rel == b"." else rel + b"/"
            for name in dirs + files:
                yield prefix + name

    def verify(self, entries, list_path=None, log=None):
        """Compare every manifest entry with the destination by lstat (and content when
        verify == 'checksum'), independently of rsync's own bookkeeping."""
        del list_path, log
        result = Verification()
        src, dst = os.fsencode(self.source), os.fsencode(self.destination)
        dirs, heads = {}, {}  # each destination directory's components, lstat'ed once a call
        for entry in entries:
            kind, size, mtime_ns, rel = entry
            # Never through a symlink: a directory of the destination that is one would show
            # files from wherever it points (rsync copies a directory swapped for a symlink as
            # the symlink).
            head = rel if kind == "d" else rel.rpartition(b"/")[0]
            if head not in heads:
                heads[head] = _not_a_directory(dst, head, dirs)
            problem = heads[head]
            if problem is None:
                problem = self._check(src, dst, kind, size, mtime_ns, rel)
            if problem is None:
                if kind != "d":
                    result.files += 1
                    result.bytes += size
            elif result.source_moved_on(entry, self.source):
                pass  # vanished or changed since the crawl: noted, not a transfer failure
            elif problem == MISSING and len(dst) + len(rel) >= _PATH_MAX:
                result.fail(entry, "path longer than the destination can hold (%d bytes)"
                            % (len(dst) + len(rel)), DETERMINISTIC)
            elif problem == MISSING:
                result.fail(entry, *missing_reason(self.source, rel))
            else:
                result.fail(entry, problem)
        return result

    def _check(self, src, dst, kind, size, mtime_ns, rel):
        target = os.path.join(dst, rel)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return MISSING
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return MISSING  # verify() says why, and that no retry can help
            raise
        if kind == "d":
            return None if stat.S_ISDIR(st.st_mode) else "not a directory at destination"
        if kind == "l":
            if not stat.S_ISLNK(st.st_mode):
                return "not a symlink at destination"
            try:
                expected = os.readlink(os.path.join(src, rel))
            except OSError:
                return "symlink no longer in the source"  # verify() calls it vanished
            return None if os.readlink(target) == expected else "symlink target differs"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file at destination"
        if st.st_size != size:
            return "size %d, expected %d" % (st.st_size, size)
        if abs(st.st_mtime_ns - mtime_ns) >= 1000000000:
            return "mtime differs"
        if self.verify_mode == "checksum" and _digest(target) != _digest(os.path.join(src, rel)):
            return "content differs"
        return None


def _not_a_directory(dst, head, cache):
    """Why destination directory ``head`` cannot hold the partition's files (a component is a
    symlink or a file), or None (all directories, or missing: the file is missing then)."""
    bad = first_non_dir(dst, head, cache)
    if bad is None or bad[1] is None:
        return None
    kind = "a symlink" if stat.S_ISLNK(bad[1].st_mode) else "not a directory"
    return "%s is %s at the destination" % (os.fsdecode(bad[0]), kind)


def _is_temp_of(candidate, names):
    """Is ``candidate`` rsync's temp name (.<name>.XXXXXX) for one of ``names``?"""
    if len(candidate) < 2 + _TEMP_SUFFIX or candidate[:1] != b"." \
            or candidate[-_TEMP_SUFFIX:-_TEMP_SUFFIX + 1] != b".":
        return False
    core = candidate[1:-_TEMP_SUFFIX]
    if core in names:
        return True
    # a name too long for NAME_MAX once dotted and suffixed is cut by rsync
    return len(candidate) >= _NAME_MAX - 1 and any(n.startswith(core) for n in names)


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.digest()

# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rclone adapter: POSIX to object storage (OCI Object Storage, S3, any rclone remote)."""
from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.datamover.fleet.plugins.module_utils.fsutil import open_private
from ansible_collections.datamover.fleet.plugins.module_utils.secrets import is_secret_name, redact
from ansible_collections.datamover.fleet.plugins.module_utils.tools import content
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone_store import (
    _split_params,
    _unquote,
    backend_encoding,
    prefix_rewrites,
    resolve_store,
    split_remote,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    DETERMINISTIC,
    ToolError,
    TransferTool,
    Verification,
    last_line,
    missing_reason,
    run_quiet,
)

MIN_VERSION = (1, 61, 0)  # the oracleobjectstorage backend appeared in 1.61
QUOTE = "\u201b"  # rclone's quote character for literal look-alikes of encoded characters
QUOTE_BYTES = QUOTE.encode("utf-8")
LINK_SUFFIX = b".rclonelink"
# The reason of a content mismatch, as not-copied.jsonl and the audit name it.
CONTENT_DIFFERS = "content differs"


def rclone_name(relpath):
    """The name rclone gives a local path internally (its 'standard' encoding), as bytes.

    rclone's local backend shows control characters as their Unicode control pictures
    (newline -> U+240A) and quotes literal pictures with U+201B, so a name with a newline can
    still travel in a --files-from-raw list (one name per line) and comes back intact when the
    bucket is copied back. Bytes that are not UTF-8 pass through unchanged (rclone keeps them and
    the object store backends encode them reversibly).
    """
    text = relpath.decode("utf-8", "surrogateescape")
    out = []
    for ch in text:
        o = ord(ch)
        if 0x01 <= o <= 0x1F:
            out.append(chr(0x2400 + o))
        elif o == 0x7F:
            out.append("\u2421")
        elif 0x2401 <= o <= 0x241F or o == 0x2421 or ch == QUOTE:
            out.append(QUOTE + ch)
        else:
            out.append(ch)
    return "".join(out).encode("utf-8", "surrogateescape")


def _env_name(text):
    return "".join(c if c.isalnum() else "_" for c in text).upper()


def _count_lines(path):
    """Lines of a list file; a list that cannot be read counts as long (no extra streams)."""
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 1 << 30


def remote_name(destination):
    """'oci:bucket/prefix' -> 'oci'; ':s3,provider=x:bucket' (connection string) -> None."""
    if destination.startswith(":") or ":" not in destination:
        return None
    return destination.split(":", 1)[0]


# Preflight's requests (the bucket's stat, the probe) fail fast: an endpoint that refuses or
# does not answer is reported in seconds, naming it, not after rclone's 10 low-level retries
# and 3 retries with backoff (measured: 3 min 42 s for a wrong port). Transfers keep rclone's
# patient defaults.
PREFLIGHT_FLAGS = ("--low-level-retries", "2", "--retries", "1", "--contimeout", "8s",
                   "--timeout", "15s")

# Our own listing verifies every object (name and size), so rclone's per-object integrity HEAD
# after each PUT is a second request per object for nothing (measured: it doubles the requests
# of small files). The bucket must already exist (preflight says how to create it), so rclone
# need not check or create it either. Flags of other backends are ignored by rclone.
LEAN_UPLOAD_FLAGS = ("--s3-no-head", "--s3-no-check-bucket", "--oos-no-check-bucket")
# rclone's own default of --multi-thread-streams (and of --s3-upload-concurrency; OCI's
# --oos-upload-concurrency defaults to 10, and rclone takes the larger): parts of one file
# uploaded at once.
RCLONE_STREAMS = 4


_NEVER_DELETE = ("datamover copies and verifies, it never deletes; remove the source or stale "
                 "objects yourself once report.json says SUCCEEDED")
_NO_DRY_RUN = ("a dry run copies nothing, so verification would fail every object; to see "
               "what would move, run the partition module (the plan) or preflight alone")
_COMPARE = ("it changes which files rclone copies, and verification would report what it "
            "skipped as missing; to move only what changed, resume with the same "
            "datamover_run_id")
_FILTER = "use datamover_excludes: excluded files are left out of the plan, not reported missing"
_LINKS = "use datamover_symlinks (links keeps them as .rclonelink objects, skip reports them)"


class RcloneTool(TransferTool):
    """POSIX to an rclone remote: ``rclone copy --files-from`` per partition (or batch), then a
    listing per directory of the destination to verify names and sizes; credentials through
    the environment, request budgets through ``--tpslimit``."""

    name = "rclone"
    min_version = MIN_VERSION
    sends_requests = True
    refused_options = {
        **dict.fromkeys(("--delete-before", "--delete-during", "--delete-after",
                         "--delete-excluded", "--max-delete", "--max-delete-size",
                         "--delete-empty-src-dirs", "--track-renames"), _NEVER_DELETE),
        "--dry-run": _NO_DRY_RUN,
        "--interactive": "it waits for answers on a terminal that a worker does not have",
        "--config": "use datamover_rclone_config (the file on the workers)",
        **dict.fromkeys(("--backup-dir", "--suffix", "--suffix-keep-extension"),
                        "it moves existing objects aside instead of copying; back up the "
                        "destination before the run if needed"),
        **dict.fromkeys(("--compare-dest", "--copy-dest"),
                        "it makes rclone skip files found in another place; to move only what "
                        "changed, resume with the same datamover_run_id"),
        **dict.fromkeys(("--ignore-existing", "--update", "--ignore-size", "--size-only",
                         "--max-size", "--min-size", "--max-age", "--min-age",
                         "--max-transfer", "--max-duration", "--ignore-checksum",
                         "--no-check-dest"), _COMPARE),
        **dict.fromkeys(("--exclude", "--include", "--filter", "--exclude-from",
                         "--include-from", "--filter-from", "--exclude-if-present",
                         "--files-from", "--files-from-raw", "--max-depth"), _FILTER),
        **dict.fromkeys(("--copy-links", "--skip-links", "--links"), _LINKS),
        "--log-file": "each attempt's output is kept in <run dir>/logs",
    }
    refused_short = {"n": "--dry-run", "i": "--interactive", "u": "--update",
                     "L": "--copy-links", "l": "--links"}

    def __init__(self, source, destination, options=(), binary="rclone", verify="size",
                 config=None, symlinks="links", transfers=8, checkers=8, max_name_bytes=1024):
        self.source = source.rstrip("/") + "/"
        self.destination = destination.rstrip("/")
        self.options = list(options or [])
        self.binary = binary
        self.verify_mode = verify
        self.config = config
        self.symlinks = symlinks
        self.transfers, self.checkers = int(transfers), int(checkers)
        # S3 and OCI Object Storage cap object names at 1024 bytes, prefix included.
        self.max_name_bytes = int(max_name_bytes or 0)
        spec, path = split_remote(self.destination)
        path = path if spec else ""
        bucket_prefix = path.strip("/").split("/", 1)
        self._prefix_len = len(bucket_prefix[1].encode("utf-8")) + 1 if len(bucket_prefix) > 1 else 0
        self.requests_per_second = 0.0  # this process's share of the request budget; 0 = none
        # The multipart layout (upload cutoff, part size, most parts): what a content check
        # computes the source's ETag with, pinned on every upload of a checksum run.
        self.layout = content.layout_from_options(self.options)
        self._key_prefix = (bucket_prefix[1].strip("/").encode("utf-8") + b"/"
                            if len(bucket_prefix) > 1 and bucket_prefix[1].strip("/") else b"")

    def limit_requests(self, per_process):
        """Every rclone process this adapter starts sends at most ``per_process`` requests a
        second (0 = no limit): --tpslimit counts every HTTP transaction (PUT, part, HEAD, LIST),
        and a burst of 1 keeps any one-second window within the rate plus one request."""
        self.requests_per_second = max(0.0, float(per_process or 0))

    def limit_flags(self):
        if not self.requests_per_second:
            return []
        return ["--tpslimit", "%.6g" % self.requests_per_second, "--tpslimit-burst", "1"]

    @classmethod
    def split_secrets(cls, destination, options):
        """Credentials of a connection string (':s3,secret_access_key=...:bucket', or
        'remote,password=...:path') and of --<backend>-<secret> options become the RCLONE_*
        variables rclone reads for the same settings (a parameter of an on-the-fly backend:
        RCLONE_<BACKEND>_<NAME>; of a named remote: RCLONE_CONFIG_<REMOTE>_<NAME>; an option:
        RCLONE_<OPTION>)."""
        env = {}
        spec, path = split_remote(destination or "")
        if spec and "," in spec:
            head, params = _split_params(spec[:-1])
            prefix = ("RCLONE_%s_" % head[1:] if head.startswith(":")
                      else "RCLONE_CONFIG_%s_" % head)
            kept = []
            for param in params:
                name, sep, value = param.partition("=")
                if sep and is_secret_name(name):
                    env[_env_name(prefix + name)] = _unquote(value)
                else:
                    kept.append(param)
            destination = ",".join([head] + kept) + ":" + path
        out, options = [], list(options or [])
        i = 0
        while i < len(options):
            arg = str(options[i])
            name, sep, value = arg.partition("=")
            if arg.startswith("--") and is_secret_name(name[2:]):
                if not sep:  # --flag value, or a switch (--ask-password) on its own
                    nxt = str(options[i + 1]) if i + 1 < len(options) else "-"
                    value = "true" if nxt.startswith("-") else nxt
                    i += 0 if nxt.startswith("-") else 1
                env[_env_name("RCLONE_" + name[2:])] = value
            else:
                out.append(arg)
            i += 1
        return destination, out, env

    @classmethod
    def run_settings(cls, meta):
        """What run.json records beside the plan's options: the multipart layout uploads use
        (a content check of a multipart object needs its part size, which no store lists)."""
        return {"multipart": content.layout_from_options(meta.get("tool_options"))}

    @classmethod
    def from_meta(cls, meta, binary, config=None):
        return cls(meta["source"], meta["destination"], options=meta.get("tool_options") or [],
                   binary=binary, verify=meta.get("verify", "size"),
                   config=config or meta.get("rclone_config"),
                   symlinks=meta.get("symlinks", "links"),
                   transfers=meta.get("transfers") or 8, checkers=meta.get("transfers") or 8)

    @classmethod
    def check_destination(cls, destination, binary, config=None, probe=True, options=()):
        if not destination or ":" not in destination or destination.startswith("/"):
            return ["with rclone, datamover_destination must be remote:bucket[/prefix] (got %r)"
                    % (destination,)]
        if not split_remote(destination)[1].strip("/"):
            return ["destination %s names no bucket: give remote:bucket[/prefix] (datamover "
                    "writes into a bucket that exists, it never creates one)" % redact(destination)]
        if config and not os.path.isfile(config):
            return ["rclone config %s does not exist on this host (datamover_rclone_config)"
                    % config]
        base = [binary] + (["--config", config] if config else []) + list(PREFLIGHT_FLAGS)
        remote = remote_name(destination)
        if probe == "only":
            return cls._probe(base, destination)
        if remote:
            _rc, out, _err = run_quiet(base + ["listremotes"])
            remotes = [r.strip().rstrip(":") for r in out.decode("utf-8", "replace").splitlines()]
            if remote not in remotes and not _remote_from_env(remote):
                return ["rclone remote %r is not configured on this host (known: %s). Add it to "
                        "the rclone config (roles/rclone) or point datamover_rclone_config at "
                        "the right file" % (remote, ", ".join(remotes) or "none")]
        spec, path = split_remote(destination)
        store = resolve_store(binary, config, destination, options)
        rewrites = cls.rewrite_problems(destination, binary, store)
        if rewrites:
            return rewrites
        bucket = path.strip("/").split("/", 1)[0]
        where = " (endpoint %s)" % store["endpoint"] if store.get("endpoint") else ""
        # Read-only, and before the probe: rclone's upload would create a missing bucket,
        # and creating one (where, with which policies) is the user's decision.
        rc, _out, err = run_quiet(base + ["lsjson", "--stat", spec + bucket])
        if rc == 3:  # rclone's "directory not found"
            return ["destination %s: the bucket %r does not exist (datamover does not create "
                    "buckets)%s. Create it first, e.g. rclone mkdir %s (or oci os bucket create "
                    "--name %s for OCI Object Storage), then run again"
                    % (redact(destination), bucket, " at endpoint %s" % store["endpoint"]
                       if store.get("endpoint") else "", redact(spec + bucket), bucket)]
        if rc != 0:
            return ["destination %s is not reachable%s: rclone lsjson --stat of its bucket "
                    "failed (%s). Check the endpoint and its port in the rclone config"
                    % (redact(destination), where, last_line(err))]
        return cls._probe(base, destination) if probe else []

    @staticmethod
    def rewrite_problems(destination, binary, store):
        """The parts of the destination the store would hold under another name (objects would
        land elsewhere and verification would blame the wrong cause): refused, saying what
        each part would become (rclone_store.prefix_rewrites). ``store``: resolve_store's."""
        flags = backend_encoding(binary, store)
        problems = prefix_rewrites(split_remote(destination)[1], flags)
        if not problems:
            return []
        return ["destination %s would not be stored as given: %s. Give the bucket and prefix "
                "as plain names (no '.', '..' or empty segments)"
                % (redact(destination), "; ".join(problems))]

    @staticmethod
    def _probe(base, destination):
        """Write and delete an object (no bucket is created: LEAN_UPLOAD_FLAGS)."""
        name = "%s/.datamover-probe-%s" % (destination.rstrip("/"), uuid.uuid4().hex)
        rc, _out, err = run_quiet(base + ["rcat"] + list(LEAN_UPLOAD_FLAGS) + [name],
                                  stdin=b"probe")
        if rc != 0:
            return ["destination %s is not writable: rclone rcat failed (%s)"
                    % (destination, last_line(err))]
        rc, _out, err = run_quiet(base + ["deletefile", name])
        if rc != 0:
            return ["destination %s accepted a write but the probe object %s could not be "
                    "deleted (%s)" % (destination, name, last_line(err))]
        return []

    def base_argv(self):
        """The start of every rclone command of a run: the binary, its config and the
        process's share of the request budget."""
        argv = [self.binary]
        if self.config:
            argv += ["--config", self.config]
        return argv + self.limit_flags()

    def destination_name(self, kind, rel):
        """The object's name relative to the destination (None: not movable exactly)."""
        return self._dest_name(kind, rel)

    def name_problem(self, kind, rel):
        """Why the object store cannot hold this entry under its name (None: it can)."""
        if self._dest_name(kind, rel) is not None:
            return None
        if QUOTE_BYTES in rel:
            return "name holds U+201B, which rclone cannot read from a local file system"
        return "object name longer than %d bytes" % self.max_name_bytes

    def _dest_name(self, kind, rel):
        """Object name relative to the destination, or None when it cannot be moved exactly."""
        if QUOTE_BYTES in rel:
            # rclone 1.75's local backend cannot read back a name holding its own quote
            # character (U+201B): every copy fails. Reported instead of failing the partition.
            return None
        name = rclone_name(rel)
        if kind == "l":
            name += LINK_SUFFIX
        if self.max_name_bytes and self._prefix_len + len(name) > self.max_name_bytes:
            return None
        return name

    def prepare(self, entries, workdir, whole_dirs=(), trees=()):
        """Write the --files-from-raw list (rclone names, one per line) for a partition, and
        beside it (``.trees``) the directories verify() may list as one flat listing each.

        Returns (list_path, skipped): [relpath, reason] for entries left out by policy.
        Names the store cannot hold are left out here and reported by verify(). Every
        object is named: rclone's listing-free --no-traverse copy needs the names anyway.
        """
        del whole_dirs
        skipped, lines = [], []
        for kind, _size, _mtime, rel in entries:
            if kind == "d":
                skipped.append([os.fsdecode(rel), "empty directory (object storage has no directories)"])
                continue
            if kind == "l" and self.symlinks == "skip":
                skipped.append([os.fsdecode(rel), "symlink skipped (datamover_symlinks=skip)"])
                continue
            name = self._dest_name(kind, rel)
            if name is not None:
                lines.append(name)
        list_path = os.path.join(workdir, "files-from-raw.txt")
        with open_private(list_path, 0o600, append=False) as handle:
            handle.write(b"".join(line + b"\n" for line in lines))
        tree_names = [rclone_name(t) for t in trees]
        if tree_names and all(b"\n" not in t for t in tree_names):
            with open(list_path + ".trees", "wb") as handle:
                handle.write(b"".join(t + b"\n" for t in tree_names))
        elif os.path.exists(list_path + ".trees"):
            os.unlink(list_path + ".trees")  # a retry lists only its own directories
        return list_path, skipped

    def commands(self, list_path, workdir, retry=False):
        argv = self.base_argv() + [
            "copy", self.source, self._root(),
            "--files-from-raw", list_path, "--no-traverse",
            "--transfers", str(self.transfers), "--checkers", str(self.checkers),
            "--retries", "1",  # the worker retries what failed verification, with backoff
            "--low-level-retries", "10",
            "--metadata",      # mode, owner and mtime travel with each object
            # One JSON stats line a second: the worker's live progress reads the last one
            # (exact bytes and transfers, where the text line rounds them).
            "--stats", "1s", "--stats-one-line", "--use-json-log", "-v",
        ] + list(LEAN_UPLOAD_FLAGS)
        if not retry:
            # A fresh partition's objects are new: one PUT each, no HEAD first.
            argv.append("--no-check-dest")
        elif self.verify_mode == "checksum":
            # A retry after a content mismatch: the object has the right size and mtime, so
            # rclone would skip it; what a retry holds failed verification: send it again.
            argv.append("--ignore-times")
        if self.verify_mode == "checksum":
            argv += content.layout_flags(self.layout)  # the ETags verify() computes
        if self.symlinks == "links":
            argv.append("--links")
        streams = self.streams_per_file(_count_lines(list_path))
        if streams > RCLONE_STREAMS:
            argv += ["--multi-thread-streams", str(streams)]
        return [argv + self.options]  # the user's options come last: theirs win

    def streams_per_file(self, files):
        """Parts of one file uploaded at once. A slot keeps ``transfers`` uploads going: files
        side by side first, and when the partition holds fewer files than that (a checkpoint's
        shards, one huge file) the streams left over upload parts of the same file. rclone
        uploads a file of --multi-thread-cutoff (256 MiB) or more in parts through the
        backend's chunk writer (S3, OCI; every backend that has one), taking the larger of
        --multi-thread-streams, when set, and the backend's own upload concurrency. The
        object is verified whole afterwards (its listed size), as every object is."""
        return max(RCLONE_STREAMS, self.transfers // max(1, min(files, self.transfers)))

    def progress(self, entries, log_path, memo, tail=65536):
        """rclone's own count, from the last stats line of the attempt's log (only what was
        written since the previous call, at most its last ``tail`` bytes)."""
        del entries
        try:
            with open(log_path, "rb") as handle:
                end = handle.seek(0, os.SEEK_END)
                handle.seek(max(memo.get("offset", 0), end - tail))
                data = handle.read(end - handle.tell())
        except OSError:
            return memo.get("last")
        memo["offset"] = end
        at = data.rfind(b'"stats":{')
        if at >= 0:
            line = data[data.rfind(b"\n", 0, at) + 1:]
            line = line[:line.find(b"\n")] if b"\n" in line else line
            try:
                stats = json.loads(line.decode("utf-8", "replace"))["stats"]
                memo["last"] = (int(stats.get("transfers", 0)), int(stats.get("bytes", 0)))
            except (ValueError, KeyError, TypeError):
                pass
        return memo.get("last")

    def _root(self):
        # A trailing "/" tells rclone the root is a directory: no HEAD to check whether
        # it is a file, once per rclone process (S3's NewFs).
        return self.destination + "/"

    def listing_argv(self, list_path, subdir=b""):
        # lsf prints raw names (control characters already shown as pictures, so one per
        # line) as "size;path": an exact listing, where lsjson would mangle non-UTF-8 bytes.
        root = self._root() + (os.fsdecode(subdir) + "/" if subdir else "")
        return self.base_argv() + ["lsf", "-R", "--files-only", "--format", "sp",
                                   "--files-from-raw", list_path, root]

    def dir_listing_argv(self, dirs, trees=()):
        """One rclone process listing each directory on its own (rc job/batch of
        operations/list, run in-process by --loopback): one LIST per directory page and
        none for the ancestors, which a listing from a common root must walk down. A tree
        (a directory whose whole subtree is in the partition) is one flat listing of its
        prefix (UseListR: no delimiter), a LIST per 1,000 objects however many directories
        hold them."""
        opt = {"filesOnly": True, "noModTime": True, "noMimeType": True}
        inputs = [{"_path": "operations/list", "fs": self._root(), "remote": d,
                   "opt": dict(opt, recurse=False)} for d in dirs]
        inputs += [{"_path": "operations/list", "fs": self._root(), "remote": t,
                    "opt": dict(opt, recurse=True), "_config": {"UseListR": True}}
                   for t in trees]
        return self.base_argv() + ["rc", "--loopback", "job/batch", "--json",
                                   json.dumps({"inputs": inputs,
                                               "concurrency": max(1, self.checkers)})] + (
            # the listing bodies, to read the hashes rclone does not show (content.py)
            ["--dump", "responses", "-vv", "--use-json-log"] if self.verify_mode == "checksum"
            else [])

    def _list_dirs(self, names, log, trees=(), hashes=None):
        """{name: size} of the objects in the directories holding ``names`` (those under one
        of ``trees`` by the tree's flat listing), or None when a name is not UTF-8 (JSON
        cannot carry it: the exact lsf listing is used instead)."""
        try:
            dirs = sorted({n.rpartition(b"/")[0].decode("utf-8") for n in names})
            trees = sorted({t.decode("utf-8") for t in trees})
        except UnicodeDecodeError:
            return None
        if trees:
            dirs = [d for d in dirs if not any(t == "" or d == t or d.startswith(t + "/")
                                               for t in trees)]
        argv = self.dir_listing_argv(dirs, trees)
        if self.verify_mode == "checksum":
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, check=False)
            hashes.update(self._read_dump(proc.stderr, log))
        else:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=log, check=False)
        if proc.returncode != 0:
            raise ToolError("rclone listing of %d directories of %s failed with exit code %d "
                            "(see the log)" % (len(dirs), self.destination, proc.returncode))
        seen = {}
        for dname, out in zip(dirs + trees, json.loads(proc.stdout)["results"]):
            if "error" in out:
                if out.get("status") == 404 or "directory not found" in str(out["error"]):
                    continue  # nothing arrived in it: every expected name is reported
                raise ToolError("rclone listing of %s/%s failed: %s"
                                % (self.destination, dname, out["error"]))
            for item in out.get("list") or ():
                seen[item["Path"].encode("utf-8", "surrogateescape")] = int(item["Size"])
        return seen

    def _read_dump(self, stderr, log):
        """{name relative to the destination: hash} from a listing's --dump output; the
        log lines that are not debug output go to the attempt's log as they would have."""
        lines = stderr.split(b"\n")
        for line in lines:
            if line and b'"level":"debug"' not in line:
                log.write(line + b"\n")
        cut = len(self._key_prefix)
        return {key[cut:]: value for key, value in content.hashes_from_dump(lines).items()
                if key.startswith(self._key_prefix)}

    def _list_lsf(self, names, list_path, log):
        """{name: size} from lsf over the partition's list: exact for any byte in a name.
        It starts at the partition's deepest common directory, since rclone lists every
        directory from its root down to the files."""
        common = _common_dir(names)
        if common:
            cut = len(common) + 1
            list_path = list_path + ".verify"
            with open_private(list_path, 0o600, append=False) as handle:
                handle.write(b"".join(n[cut:] + b"\n" for n in names))
        proc = subprocess.run(self.listing_argv(list_path, common), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=log, check=False)
        if proc.returncode != 0:
            raise ToolError("rclone lsf of %s failed with exit code %d (see the log)"
                            % (self.destination, proc.returncode))
        prefix = common + b"/" if common else b""
        seen = {}
        for line in proc.stdout.split(b"\n"):
            if line:
                size, dummy, name = line.partition(b";")
                seen[prefix + name] = int(size) if size.lstrip(b"-").isdigit() else -1
        return seen

    def verify(self, entries, list_path, log):
        """List the destination independently and compare names and sizes with the manifest.

        Each directory of the partition is listed on its own, in one rclone process. A name
        that listing does not show is looked for again with lsf, whose output is exact for
        every byte, before it counts as missing."""
        with open(list_path, "rb") as handle:
            names = [n for n in handle.read().split(b"\n") if n]
        trees = []
        if os.path.exists(list_path + ".trees"):
            with open(list_path + ".trees", "rb") as handle:
                trees = handle.read().split(b"\n")[:-1]
        hashes = {}  # name -> the hash the listing gave (checksum), filled by _list_dirs
        sources = self._hash_sources(entries) if self.verify_mode == "checksum" else None
        seen = self._list_dirs(names, log, trees, hashes) if names else {}
        exact = seen is None
        if exact:
            seen = self._list_lsf(names, list_path, log)
        result, missing = self._compare(entries, seen)
        if (result.mismatches or missing) and not exact:
            result, missing = self._compare(entries, self._list_lsf(names, list_path, log))
        if sources is not None:
            self._check_content(result, sources.result(), hashes, log, list_path)
        # Why each missing name is missing, and whether a retry can help: failure path only.
        held = self._held_as([name for _entry, name in missing], log) if missing else {}
        for entry, name in missing:
            if name in held:
                result.fail(entry, "the store holds it as %r (it rewrites this name): no "
                            "retry can change that" % os.fsdecode(held[name]), DETERMINISTIC)
            else:
                result.fail(entry, *missing_reason(self.source, entry[3]))
        return result

    def _compare(self, entries, seen):
        """(verification, [(entry, name)] missing at the destination, not yet failed)."""
        result = Verification()
        missing = []
        for entry in entries:
            kind, size, _mtime, rel = entry
            if kind == "d" or (kind == "l" and self.symlinks == "skip"):
                continue
            name = self._dest_name(kind, rel)
            if name is None:
                result.cannot_hold(entry, self.name_problem(kind, rel))
                continue
            got = seen.get(name)
            if got is None:
                if not result.source_moved_on(entry, self.source):
                    missing.append((entry, name))
            elif kind == "f" and got != size:
                if not result.source_moved_on(entry, self.source):
                    result.fail(entry, "size %d, expected %d" % (got, size))
            elif kind == "f" and self.verify_mode == "checksum":
                result.to_check.append((entry, name))  # counted once its content matches
            else:
                result.files += 1
                result.bytes += size
        return result, missing

    def _hash_sources(self, entries):
        """A future of {relpath: expected hash or OSError} of the entries' regular files,
        computed while the destination is listed (one read of each file)."""
        src = os.fsencode(self.source)
        jobs = [(rel, os.path.join(src, rel), size) for kind, size, _m, rel in entries
                if kind == "f"]
        pool = ThreadPoolExecutor(max_workers=1)
        future = pool.submit(content.hash_files, jobs, self.layout,
                             min(4, content.cpu_count()))
        pool.shutdown(wait=False)
        return future

    def _check_content(self, result, expected, hashes, log, list_path):
        """Compare each file whose name and size matched with the hash the listing gave
        (an object whose hash the listing lacks, or with another part count than this run's
        layout gives, is read back and hashed: counted as a fallback)."""
        fallback = []
        for entry, name in result.to_check:
            want, got = expected.get(entry[3]), hashes.get(name)
            if isinstance(want, OSError):
                if not result.source_moved_on(entry, self.source):
                    result.fail(entry, "source file unreadable (%s)" % want.strerror,
                                DETERMINISTIC)
            elif got is None or content.parts_of(got) != content.parts_of(want):
                fallback.append((entry, name))
            else:
                self._content_verdict(result, entry, want, got)
        if fallback:
            got = self._download_hashes([name for _entry, name in fallback], log, list_path)
            for entry, name in fallback:
                result.content_fallback += 1
                want = content.file_etag(os.path.join(os.fsencode(self.source), entry[3]),
                                         entry[1], dict(self.layout, upload_cutoff=1 << 62))
                self._content_verdict(result, entry, want, got.get(name, "unread"))
        result.to_check = []

    def _content_verdict(self, result, entry, want, got):
        if want == got:
            result.files += 1
            result.bytes += entry[1]
            result.content_checked += 1
        elif not result.source_moved_on(entry, self.source):
            # Same part count, other hash: other bytes, or (an object another tool wrote)
            # parts of another size giving the same count: only a read could tell them apart.
            other_parts = (" (or parts of another size than this run's %d bytes)"
                           % content.expected_parts(entry[1], self.layout)[0]
                           if content.parts_of(want) else "")
            result.fail(entry, "%s%s: the destination holds %s, the source gives %s"
                        % (CONTENT_DIFFERS, other_parts, got, want))

    def _download_hashes(self, names, log, list_path):
        """{name: MD5} of objects read back in full (rclone md5sum --download): only for
        objects whose listing carried no usable hash."""
        path = list_path + ".fallback"
        with open_private(path, 0o600, append=False) as handle:
            handle.write(b"".join(n + b"\n" for n in names))
        log.write(b"# content check: %d objects read back (no usable hash in the listing)\n"
                  % len(names))
        proc = subprocess.run(self.base_argv() + ["md5sum", "--download", "--files-from-raw",
                                                  path, self._root()],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                              check=False)
        out = {}
        for line in proc.stdout.split(b"\n"):
            digest, _sep, name = line.partition(b"  ")
            if name:
                out[name] = digest.decode("ascii", "replace")
        return out

    def list_destination(self):
        """One flat listing of the destination (--fast-list: a LIST per 1,000 objects)."""
        proc = subprocess.Popen(self.base_argv() + ["lsf", "-R", "--files-only", "--fast-list",
                                                    self._root()],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        for line in proc.stdout:
            if line.rstrip(b"\n"):
                yield line.rstrip(b"\n")
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise ToolError("rclone lsf of %s failed with exit code %d (%s)" % (
                redact(self.destination), proc.returncode, last_line(err)))

    def _held_as(self, names, log, max_dirs=16):
        """{missing name: the name the store lists for it} for names the store rewrote.

        A store may normalise a name (NFD to NFC, case) and then list the object under that
        other name: our filtered listing does not show it, and rclone's own HEAD finds it, so
        every retry would "transfer nothing" and miss it again. Only on the failure path: one
        unfiltered listing of each directory (at most ``max_dirs``) that lost a name."""
        by_dir = {}
        for name in names:
            head, _sep, _base = name.rpartition(b"/")
            by_dir.setdefault(head, []).append(name)
        held = {}
        for head in list(by_dir)[:max_dirs]:
            root = self._root() + (os.fsdecode(head) + "/" if head else "")
            proc = subprocess.run(self.base_argv() + ["lsf", "--files-only", root],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                  check=False)
            if proc.returncode != 0:
                continue
            listed = {}
            for line in proc.stdout.split(b"\n"):
                if line:
                    listed.setdefault(_name_key(line), line)
            for name in by_dir[head]:
                base = name.rpartition(b"/")[2]
                other = listed.get(_name_key(base))
                if other is not None and other != base:
                    held[name] = (head + b"/" + other) if head else other
        return held

    def remove_copies(self, entries, workdir, log):
        """Delete the objects of ``entries`` (their names only: one ``rclone delete`` over a
        list of them; a name that is not there is no error)."""
        names = [name for name in (self._dest_name(k, rel) for k, _s, _m, rel in entries
                                   if k != "d") if name is not None]
        if not names:
            return 0
        list_path = os.path.join(workdir, "remove-copies.txt")
        with open_private(list_path, 0o600, append=False) as handle:
            handle.write(b"".join(name + b"\n" for name in names))
        proc = subprocess.run(self.base_argv() + ["delete", "--files-from-raw", list_path,
                                                  self._root()],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=False)
        if proc.returncode != 0:
            raise ToolError("rclone delete of %d objects under %s failed with exit code %d (see "
                            "the log)" % (len(names), redact(self.destination), proc.returncode))
        return len(names)

    # --- multipart uploads left behind ----------------------------------------------------
    def _uploads_root(self):
        """(remote spec + bucket, prefix inside the bucket or "")."""
        spec, path = split_remote(self.destination)
        bucket, _sep, prefix = path.strip("/").partition("/")
        return spec + bucket, prefix.strip("/")

    def list_uploads(self):
        """[Upload] of every unfinished multipart upload whose key starts with the
        destination's prefix (rclone lists by name prefix, so "data" also lists "data2/..."):
        ``rclone backend list-multipart-uploads`` (S3: Key/UploadId/Initiated, OCI:
        object/uploadId/timeCreated)."""
        root, prefix = self._uploads_root()
        argv = self.base_argv() + ["backend", "list-multipart-uploads",
                                   root + "/" + (prefix + "/" if prefix else "")]
        rc, out, err = run_quiet(argv)
        if rc != 0:
            raise ToolError("rclone backend list-multipart-uploads %s failed with exit code %d "
                            "(%s)" % (redact(self.destination), rc, last_line(err)))
        uploads = []
        for items in (json.loads(out or b"{}") or {}).values():
            for item in items or ():
                key = item.get("Key", item.get("object"))
                upload_id = item.get("UploadId", item.get("uploadId"))
                if key is None or upload_id is None:
                    continue
                initiated = item.get("Initiated", item.get("timeCreated"))
                uploads.append(Upload(key, upload_id, _epoch(initiated), initiated))
        return uploads

    def abort_own_uploads(self, started, planned_names):
        """Abort the multipart uploads this run left at the destination, and no other.

        Ours: a key under the destination, named for a file of the plan, initiated at the
        run's start or later (the store's clock against the run's; both are expected to
        keep time). rclone aborts by name prefix and age only (``backend cleanup -o max-age``
        aborts every upload older than that whose key starts with the root), so each of our
        keys is cleaned on its own, with a max-age that spares anything initiated after the
        newest of ours, and only when no upload of another writer starts with the same key
        (that one would go too: ours is then kept and said so). A listing afterwards says
        what is really gone."""
        root, prefix = self._uploads_root()
        head = prefix + "/" if prefix else ""
        listed = self.list_uploads()
        under = [u for u in listed if u.key.startswith(head)]
        kept, own = [], []
        planned = None
        for upload in under:
            if upload.initiated is None or upload.initiated < started:
                kept.append(upload.record("initiated before this run: not its upload"))
                continue
            if planned is None:
                planned = planned_names()
            if upload.key[len(head):].encode("utf-8", "surrogateescape") not in planned:
                kept.append(upload.record("not a file of this run: not its upload"))
                continue
            own.append(upload)
        own_ids = {u.upload_id for u in own}
        by_key = {}
        for upload in own:
            by_key.setdefault(upload.key, []).append(upload)
        tried = []
        for key, uploads in sorted(by_key.items()):
            others = [u for u in listed if u.key.startswith(key) and u.upload_id not in own_ids]
            if others:
                kept += [u.record("not aborted: an upload of another writer (%s) starts with "
                                  "the same name, and rclone aborts by name prefix"
                                  % others[0].key) for u in uploads]
                continue
            newest = max(u.initiated for u in uploads)
            while time.time() - (newest + 1.0) < 0.5:
                time.sleep(0.25)  # the cutoff must lie after our newest, before anyone's next
            age = time.time() - (newest + 1.0)
            rc, _out, err = run_quiet(self.base_argv() + [
                "backend", "cleanup", "-o", "max-age=%.3fs" % age, root + "/" + key + "/"])
            if rc != 0:
                kept += [u.record("rclone backend cleanup failed with exit code %d (%s)"
                                  % (rc, last_line(err))) for u in uploads]
                continue
            tried += uploads
        still = {u.upload_id for u in self.list_uploads()} if tried else set()
        aborted = [u.record() for u in tried if u.upload_id not in still]
        kept += [u.record("still listed after rclone backend cleanup (a name rclone encodes "
                          "differently?): abort it with the store's own tools")
                 for u in tried if u.upload_id in still]
        return {"checked": True, "listed": len(under), "aborted": aborted, "kept": kept}


class Upload:
    """An unfinished multipart upload as the store lists it."""

    def __init__(self, key, upload_id, initiated, initiated_text=None):
        self.key, self.upload_id, self.initiated = key, upload_id, initiated
        self.initiated_text = initiated_text

    def record(self, reason=None):
        out = {"key": self.key, "upload_id": self.upload_id, "initiated": self.initiated_text}
        if reason:
            out["reason"] = reason
        return out


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


def _epoch(text):
    """'2026-11-26T03:53:20Z' (S3), '2026-11-26T03:53:20.123+00:00' (OCI) -> epoch seconds;
    None when it cannot be read (such an upload is never taken for ours)."""
    match = _TIME.match(str(text or "").strip())
    if not match:
        return None
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    fraction = float(match.group(2)) if match.group(2) else 0.0
    zone = match.group(3) or "Z"
    if zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        seconds += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds + fraction


def _name_key(name):
    """What a store that rewrites names keeps of one: its NFC form, case folded."""
    return unicodedata.normalize("NFC", name.decode("utf-8", "surrogateescape")).casefold()


def _remote_from_env(remote):
    return ("RCLONE_CONFIG_%s_TYPE" % remote.upper().replace("-", "_")) in os.environ


def _common_dir(names):
    """The deepest directory holding every name (rclone names, bytes), or b""."""
    if not names:
        return b""
    parts = [n.split(b"/")[:-1] for n in names]
    common = parts[0]
    for other in parts[1:]:
        i = 0
        while i < len(common) and i < len(other) and common[i] == other[i]:
            i += 1
        common = common[:i]
        if not common:
            break
    return b"/".join(common)

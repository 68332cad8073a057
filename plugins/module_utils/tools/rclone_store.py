# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an rclone destination really goes: the store it resolves to, and the names rclone
would give its prefix there.

``resolve_store`` reads what rclone itself would use for the destination's remote, in rclone's
own order of precedence (a connection string's parameters, then ``--<backend>-<key>`` options,
then ``RCLONE_CONFIG_<REMOTE>_<KEY>``, then ``RCLONE_<BACKEND>_<KEY>``, then the config file):
its type, provider, endpoint, region, namespace (and, for wrapping remotes, the remote they
wrap), and the bucket. Never a credential: only the keys in STORE_KEYS are kept. run.json
records it when the run is created; a resume whose config resolves to another store is
refused (objects of one run would be split across two stores), while new credentials are fine.

``prefix_rewrites`` says which parts of the destination's prefix rclone (with the backend's
name encoding) or the store would store under another name: ``.`` and ``..`` segments, empty
segments (``bucket//x``), and characters the encoding replaces (``rclone help backend s3``,
"encoding"; S3 and OCI default to Slash,InvalidUtf8,Dot).
"""
from __future__ import annotations

import json
import os

from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import run_quiet

# What identifies a store (never a credential). "remote": what an alias/crypt/union wraps.
STORE_KEYS = ("type", "provider", "endpoint", "region", "namespace", "remote")
# The prefix of a backend's flags and environment variables, when not its type's name.
FLAG_PREFIX = {"oracleobjectstorage": "oos", "google cloud storage": "gcs"}
# Default name encodings, to spare a call of `rclone config providers` for the usual stores.
DEFAULT_ENCODING = {"s3": "Slash,InvalidUtf8,Dot", "oracleobjectstorage": "Slash,InvalidUtf8,Dot"}


def _env_key(text):
    return "".join(c if c.isalnum() else "_" for c in text).upper()


def split_remote(destination):
    """'oci:bucket/prefix' -> ('oci:', 'bucket/prefix'); a connection string
    ":s3,endpoint='http://h:1':bucket/p" -> (":s3,endpoint='http://h:1':", 'bucket/p'): the
    path starts after the first ':' outside quotes that ends the remote."""
    start = 1 if destination.startswith(":") else 0
    quote = None
    for i in range(start, len(destination)):
        ch = destination[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == ":":
            return destination[:i + 1], destination[i + 1:]
    return "", destination


def _split_params(spec):
    """'remote,a=1,b='x,y'' -> ('remote', ['a=1', "b='x,y'"]): commas inside quotes stay."""
    parts, current, quote = [], [], None
    for ch in spec:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts[0], [p for p in parts[1:] if p]


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace(value[0] * 2, value[0])
    return value


def _conn_params(spec):
    """(head, {key: value}) of a destination's remote part ('remote,k=v:' or ':s3,k=v:')."""
    head, params = _split_params(spec[:-1] if spec.endswith(":") else spec)
    out = {}
    for param in params:
        key, sep, value = param.partition("=")
        out[key.strip().replace("-", "_")] = _unquote(value) if sep else "true"
    return head, out


def _option_values(options, prefix):
    """{key: value} of --<prefix>-<key>[=value] options."""
    out, options = {}, [str(o) for o in options or []]
    for i, arg in enumerate(options):
        name, sep, value = arg.partition("=")
        if name.startswith("--%s-" % prefix):
            if not sep:
                value = options[i + 1] if i + 1 < len(options) else ""
            out[name[len(prefix) + 3:].replace("-", "_")] = value
    return out


def config_file_section(binary, config, remote):
    """The remote's section of the rclone config file (`rclone config dump`), or {}. Read in
    memory only: it holds credentials, which are dropped at once."""
    if not remote:
        return {}
    argv = [binary] + (["--config", config] if config else []) + ["config", "dump"]
    try:
        rc, out, _err = run_quiet(argv, timeout=60)
        dump = json.loads(out.decode("utf-8", "replace")) if rc == 0 else {}
    except (OSError, ValueError):
        dump = {}
    return dump.get(remote) or {} if isinstance(dump, dict) else {}


def resolve_store(binary, config, destination, options=(), environ=None):
    """{type, provider, endpoint, region, namespace, remote, bucket}: what the destination
    resolves to on this host (values '' when unset). ``destination`` without credentials."""
    environ = os.environ if environ is None else environ
    spec, path = split_remote(destination or "")
    head, conn = _conn_params(spec)
    remote = None if head.startswith(":") else head
    section = config_file_section(binary, config, remote)
    remote_env = "RCLONE_CONFIG_%s_" % _env_key(remote or "")
    rtype = conn.get("type") or (head[1:] if head.startswith(":") else "") \
        or (environ.get(remote_env + "TYPE") if remote else "") or section.get("type") or ""
    prefix = FLAG_PREFIX.get(rtype, rtype)
    flags = _option_values(options, prefix) if prefix else {}
    store = {}
    for key in STORE_KEYS + ("encoding",):
        candidates = [conn.get(key), flags.get(key),
                      environ.get(remote_env + _env_key(key)) if remote else None,
                      environ.get("RCLONE_%s_%s" % (_env_key(prefix), _env_key(key)))
                      if prefix else None, section.get(key)]
        store[key] = next((str(v) for v in candidates if v not in (None, "")), "")
    store["type"] = rtype
    store["bucket"] = path.strip("/").split("/", 1)[0]
    return store


def identity(store):
    """The part of a resolved store that a resume must keep (no encoding: it is checked by
    preflight's rewrite check, and a change of it is a change of names, refused there)."""
    return {k: store.get(k, "") for k in STORE_KEYS + ("bucket",)}


def store_changes(recorded, now):
    """'key: old -> new' for each key of the store that differs (empty: the same store)."""
    return ["%s %r -> %r" % (k, recorded.get(k, ""), now.get(k, ""))
            for k in STORE_KEYS + ("bucket",) if (recorded.get(k) or "") != (now.get(k) or "")]


def backend_encoding(binary, store):
    """The encoding flags in force for the destination's backend: the remote's own setting,
    else the backend's default (rclone config providers)."""
    if store.get("encoding"):
        return _flags(store["encoding"])
    rtype = store.get("type") or ""
    if rtype in DEFAULT_ENCODING:
        return _flags(DEFAULT_ENCODING[rtype])
    try:
        rc, out, _err = run_quiet([binary, "config", "providers"], timeout=60)
        providers = json.loads(out.decode("utf-8", "replace")) if rc == 0 else []
    except (OSError, ValueError):
        providers = []
    for backend in providers:
        if backend.get("Name") == rtype or backend.get("Prefix") == rtype:
            for opt in backend.get("Options") or []:
                if opt.get("Name") == "encoding":
                    return _flags(opt.get("DefaultStr") or "")
    return set()


def _flags(text):
    return {f.strip() for f in str(text).split(",") if f.strip()}


# Characters each encoding flag replaces anywhere in a name, by rclone's full-width look-alike.
_ANYWHERE = {"BackSlash": "\\", "Colon": ":", "Question": "?", "Asterisk": "*", "Pipe": "|",
             "DoubleQuote": '"', "SingleQuote": "'", "LtGt": "<>", "Hash": "#", "Percent": "%",
             "Dollar": "$", "SquareBracket": "[]", "Exclamation": "!", "Semicolon": ";"}
_EDGES = {"LeftSpace": (0, " ", "\u2420"), "RightSpace": (-1, " ", "\u2420"),
          "LeftPeriod": (0, ".", "\uff0e"), "RightPeriod": (-1, ".", "\uff0e"),
          "LeftTilde": (0, "~", "\uff5e")}


def encode_segment(segment, flags):
    """What rclone's encoder makes of one name (a close model of lib/encoder for the flags
    that touch printable names, control characters and whole-name dots)."""
    if "Dot" in flags and segment in (".", ".."):
        return "\uff0e" * len(segment)
    chars = list(segment)
    for i, ch in enumerate(chars):
        o = ord(ch)
        if ("Ctl" in flags and o < 0x20) or ("CrLf" in flags and ch in "\r\n"):
            chars[i] = chr(0x2400 + o)
        elif "Del" in flags and o == 0x7F:
            chars[i] = "\u2421"
        elif "InvalidUtf8" in flags and 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8
            chars[i] = "\ufffd"  # shown as the replacement character; rclone quotes it
        elif any(ch in _ANYWHERE[f] for f in flags if f in _ANYWHERE):
            chars[i] = chr(o + 0xFEE0)
    for flag, (where, ch, becomes) in _EDGES.items():
        if flag in flags and chars and chars[where] == ch:
            chars[where] = becomes
    return "".join(chars)


def prefix_rewrites(path, flags):
    """Problems (sentences) for each part of ``path`` (bucket/prefix, as given) the store would
    hold under another name; empty when every part stays as given."""
    trimmed = path.rstrip("/")
    segments = trimmed.split("/")
    problems = []
    if any(s == "" for s in segments):
        kept = "/".join(s for s in segments if s)
        problems.append("an empty segment in %r (a leading or doubled '/'): the store would hold "
                        "the objects under %r" % (path, kept))
    for seg in segments:
        if seg in (".", ".."):
            becomes = encode_segment(seg, flags)
            problems.append("the segment %r would be stored as %r%s, not resolved as a directory"
                            % (seg, becomes, " (rclone's Dot encoding)" if becomes != seg
                               else " or resolved by the store"))
        elif seg and encode_segment(seg, flags) != seg:
            problems.append("the segment %r would be stored as %r (the backend's name encoding: "
                            "%s)" % (seg, encode_segment(seg, flags), ",".join(sorted(flags))))
    return problems

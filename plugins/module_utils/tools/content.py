# -*- coding: utf-8 -*-
# Copyright: datamover.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content checks of objects at listing cost (datamover_verify=checksum on object stores).

An object store's listing carries each object's content hash: S3's ETag (the MD5 of the bytes
of a single-part object; of the concatenated part MD5s, then ``-<parts>``, of a multipart one)
and OCI's ``md5`` (the same two shapes, base64). Both are brought to one form here,
``"<hex>"`` or ``"<hex>-<parts>"``, and the source side is computed in the same form from one
read of each file: the MD5 of the whole file, or of each part at the part size the run pinned
(rclone's --s3-chunk-size, grown for huge files exactly as rclone grows it).

rclone does not show the raw ETag (its S3 backend keeps it only when it is a plain MD5, and
reads a multipart object's MD5 from its metadata with a HEAD per object; its OCI backend drops
the listing's md5), so the verification listing runs with ``--dump responses`` and the listing
bodies are read from its log: the same requests, no HEAD or GET per object.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET  # noqa: S405 (rclone's log of our own listing)
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

MIB = 1 << 20
# rclone's defaults for both the s3 and the oracleobjectstorage backends (upload_cutoff,
# chunk_size, max_upload_parts): a run that checks content pins them on the command line.
DEFAULT_LAYOUT = {"upload_cutoff": 200 * MIB, "chunk_size": 5 * MIB, "max_upload_parts": 10000}
# The options of datamover_tool_options that set the layout, per backend.
LAYOUT_OPTIONS = {"upload_cutoff": ("--s3-upload-cutoff", "--oos-upload-cutoff"),
                  "chunk_size": ("--s3-chunk-size", "--oos-chunk-size"),
                  "max_upload_parts": ("--s3-max-upload-parts", "--oos-max-upload-parts")}
# Measured (docs/verification.md): hashlib's MD5 over 1 MiB reads into one buffer runs at
# md5sum's speed (one core, ~700 MB/s); 64 KiB reads cost 7% more, 8 MiB ones only memory.
READ_SIZE = MIB
_SUFFIX = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text):
    """rclone's size syntax (fs.SizeSuffix): '5M', '5Mi', '5MiB', '100' (KiB), '1G' -> bytes."""
    s = str(text).strip()
    match = re.match(r"^([0-9.]+)\s*([bBkKmMgGtTpP]?)(i?)([bB]?)$", s)
    if not match:
        raise ValueError("not a size: %r" % (text,))
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit:
        return int(number * 1024)  # rclone reads a bare number as KiB
    return int(number * _SUFFIX[unit])


def layout_from_options(options):
    """The multipart layout rclone will use with these datamover_tool_options."""
    layout = dict(DEFAULT_LAYOUT)
    options = [str(o) for o in options or []]
    for i, arg in enumerate(options):
        name, sep, value = arg.partition("=")
        for key, names in LAYOUT_OPTIONS.items():
            if name in names:
                value = value if sep else (options[i + 1] if i + 1 < len(options) else "")
                layout[key] = int(value) if key == "max_upload_parts" else parse_size(value)
    return layout


def layout_flags(layout):
    """rclone flags that pin the layout, for both object store backends (rclone ignores the
    flags of a backend the remote does not use)."""
    flags = []
    for key, names in LAYOUT_OPTIONS.items():
        value = str(layout[key]) if key == "max_upload_parts" else "%dB" % layout[key]
        for name in names:
            flags += [name, value]
    return flags


def chunk_size(size, layout):
    """The part size rclone uploads a ``size``-byte file with (fs/chunksize.Calculator): the
    configured one, or for a file it would cut into more than max_upload_parts parts, the
    smallest whole MiB that fits (one MiB more right on the boundary)."""
    chunk, parts = layout["chunk_size"], layout["max_upload_parts"]
    required = size // chunk
    if required < parts or (required == parts and size % chunk == 0):
        return chunk
    smallest = size // parts
    if smallest % MIB:
        smallest += MIB - smallest % MIB
    if size // smallest == parts and size % parts:
        smallest += MIB
    return smallest


def expected_parts(size, layout):
    """(part size, parts) of a multipart upload, or (0, 0) for a single PUT."""
    if size < layout["upload_cutoff"]:
        return 0, 0
    chunk = chunk_size(size, layout)
    return chunk, max(1, -(-size // chunk))


def file_etag(path, size, layout, part=None):
    """The ETag the store computes for this file uploaded with ``layout`` (or with parts of
    ``part`` bytes when given): one read of the file, in large blocks."""
    chunk, _parts = (part, 1) if part else expected_parts(size, layout)
    whole, digests, current, in_part = hashlib.md5(), [], hashlib.md5(), 0  # noqa: S324
    buf = bytearray(READ_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as handle:
        while True:
            n = handle.readinto(buf)
            if not n:
                break
            if not chunk:
                whole.update(view[:n])
                continue
            at = 0
            while at < n:
                take = min(n - at, chunk - in_part)
                current.update(view[at:at + take])
                at, in_part = at + take, in_part + take
                if in_part == chunk:
                    digests.append(current.digest())
                    current, in_part = hashlib.md5(), 0  # noqa: S324
    if not chunk:
        return whole.hexdigest()
    if in_part or not digests:
        digests.append(current.digest())
    return "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))  # noqa: S324


def hash_files(jobs, layout, threads=4):
    """{key: etag or an OSError} for jobs [(key, path, size)], ``threads`` files at a time
    (hashlib and the reads release the GIL: the cores and the disk work in parallel)."""
    def one(job):
        key, path, size = job
        try:
            return key, file_etag(path, size, layout)
        except OSError as exc:
            return key, exc
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        return dict(pool.map(one, jobs))


def parts_of(etag):
    """The part count of a normalised ETag (0 for a single-part object)."""
    head, sep, tail = etag.rpartition("-")
    return int(tail) if sep and tail.isdigit() and head else 0


def normalise_s3(etag):
    return (etag or "").strip().strip('"').lower()


def normalise_oci(md5):
    """OCI's base64 md5 ('<b64>' or '<b64>-<parts>') in the S3 hex form."""
    b64, sep, parts = (md5 or "").rpartition("-") if "-" in (md5 or "") else (md5 or "", "", "")
    try:
        hexed = binascii.hexlify(base64.b64decode(b64, validate=True)).decode("ascii")
    except (ValueError, binascii.Error):
        return ""
    return hexed + ("-" + parts if sep else "")


def hashes_from_dump(lines):
    """{object key (bytes, within the bucket): normalised hash} from rclone's ``--dump
    responses --use-json-log`` output of listings: S3 ListObjects (v1/v2, keys URL-encoded or
    not) and OCI ListObjects bodies. Other lines are ignored."""
    out = {}
    for line in lines:
        if b"ListBucketResult" not in line and b"objects" not in line:
            continue
        try:
            msg = json.loads(line)["msg"]
        except (ValueError, KeyError, TypeError):
            continue
        body = msg.split("\r\n\r\n", 1)[-1] if "\r\n\r\n" in msg else msg.split("\n\n", 1)[-1]
        if "<ListBucketResult" in body:
            out.update(_s3_hashes(body[body.find("<"):]))
        elif '"objects"' in body:
            out.update(_oci_hashes(body[body.find("{"):]))
    return out


def _s3_hashes(xml):
    try:
        root = ET.fromstring(xml.encode("utf-8", "surrogateescape"))  # noqa: S314
    except ET.ParseError:
        return {}
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    encoded = (root.findtext(ns + "EncodingType") or "").lower() == "url"
    out = {}
    for item in root.iter(ns + "Contents"):
        key, etag = item.findtext(ns + "Key"), item.findtext(ns + "ETag")
        if key is None or not etag:
            continue
        raw = unquote_to_bytes(key) if encoded else key.encode("utf-8", "surrogateescape")
        out[raw] = normalise_s3(etag)
    return out


def _oci_hashes(text):
    try:
        objects = json.loads(text).get("objects") or []
    except (ValueError, AttributeError):
        return {}
    return {o["name"].encode("utf-8", "surrogateescape"): normalise_oci(o["md5"])
            for o in objects if o.get("name") and o.get("md5")}


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

"""tools.rclone: argv lists, rclone's name encoding (checked against the real rclone), object
name limits, and verification against a real (local) rclone transfer."""
from __future__ import annotations

import os
import subprocess

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools import (
    find_binary,
    make_tool,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    ToolError,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rclone import (
    LINK_SUFFIX,
    RcloneTool,
    rclone_name,
    remote_name,
)

from tests.unit.helpers import write

try:
    RCLONE = find_binary("rclone")
except ToolError:
    RCLONE = None
needs_rclone = pytest.mark.skipif(RCLONE is None, reason="rclone is not installed")


@pytest.fixture(autouse=True)
def _no_rclone_config(monkeypatch):
    monkeypatch.setenv("RCLONE_CONFIG", "/dev/null")


# --- argv ------------------------------------------------------------------------------------

def test_commands_flags():
    tool = RcloneTool("/src", "oci:bucket/pre/", options=["--bwlimit", "10M"], binary="/b/rclone")
    first = tool.commands("/w/list", "/w")
    assert len(first) == 1
    argv = first[0]
    assert all(isinstance(a, str) for a in argv)
    # the root ends with "/": rclone then knows it is a directory and sends no HEAD for it
    assert argv[:4] == ["/b/rclone", "copy", "/src/", "oci:bucket/pre/"]
    for flag in ("--s3-no-head", "--s3-no-check-bucket", "--oos-no-check-bucket"):
        assert flag in argv
    assert argv[argv.index("--files-from-raw") + 1] == "/w/list"
    assert "--no-check-dest" in argv
    assert "--links" in argv
    assert "--config" not in argv
    assert argv[-2:] == ["--bwlimit", "10M"]
    retry = tool.commands("/w/list", "/w", retry=True)[0]
    assert "--no-check-dest" not in retry
    assert [a for a in retry] == [a for a in argv if a != "--no-check-dest"]


def test_commands_symlinks_skip_and_config():
    tool = RcloneTool("/src", "s3:b", symlinks="skip", config="/etc/rclone.conf")
    argv = tool.commands("/l", "/w")[0]
    assert "--links" not in argv
    assert argv[1:3] == ["--config", "/etc/rclone.conf"]
    assert tool.listing_argv("/l")[1:3] == ["--config", "/etc/rclone.conf"]


def test_make_tool_rclone(tmp_path):
    binary = tmp_path / "rclone"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    tool = make_tool({"tool": "rclone", "source": "/s", "destination": "r:b",
                      "rclone_config": "/c", "symlinks": "skip"}, binary=str(binary))
    assert isinstance(tool, RcloneTool)
    assert tool.config == "/c" and tool.symlinks == "skip" and tool.binary == str(binary)
    assert make_tool({"tool": "rclone", "source": "/s", "destination": "r:b",
                      "rclone_config": "/c"}, binary=str(binary),
                     config="/override").config == "/override"


@pytest.mark.parametrize("dest,remote", [("oci:bucket/p", "oci"), ("oci:", "oci"),
                                         (":s3,provider=AWS:bucket", None), ("/local", None)])
def test_remote_name(dest, remote):
    assert remote_name(dest) == remote


# --- names: our encoding vs the real rclone --------------------------------------------------

# the names the README promises; each must come out exactly as rclone names it
HOSTILE = [
    b"new\nline", b"tab\there", b"del\x7fete", b"\x01\x1f-controls", "lit\u240aeral".encode(),
    "quote\u201bmark".encode(), "\u201b".encode(), "ends-with-quote\u201b".encode(),
    "quote-before-picture\u201b\u240a".encode(), b"non-utf8-\xff\xfe", b"latin1-caf\xe9",
    b"with space", b" leading and trailing ", b"star*", b"question?", b"back\\slash",
    b"-dash", "emoji-\U0001f4e6".encode(), "del-picture\u2421".encode(), b"plain",
    "nul-picture\u2400".encode(), "fullwidth\uff0fslash".encode(),
]
# names where a quote character precedes a character rclone itself quotes
QUOTED_QUOTES = [
    "x\u201b\u201by".encode(), "\u201b\u201b".encode(), "x\u201b\u201b\u201by".encode(),
    "x\u201b\u2400y".encode(), "x\u201b\uff0fy".encode(),
]


@pytest.fixture(scope="module")
def rclone_listing(tmp_path_factory):
    """{name: what `rclone lsf` shows for a file of that name}, one directory per name."""
    if RCLONE is None:
        pytest.skip("rclone is not installed")
    root = os.fsencode(str(tmp_path_factory.mktemp("rclone-names")))
    names = HOSTILE + QUOTED_QUOTES
    for i, name in enumerate(names):
        write(os.path.join(root, b"%03d" % i, name), b"x")
    env = dict(os.environ, RCLONE_CONFIG="/dev/null")
    proc = subprocess.run([RCLONE, "lsf", "-R", "--files-only", "--format", "p", root],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True)
    out = {}
    for line in proc.stdout.split(b"\n"):
        if line:
            index, _, shown = line.partition(b"/")
            out[names[int(index)]] = shown
    assert len(out) == len(names)
    return out


@needs_rclone
@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_rclone_name_matches_real_rclone(rclone_listing, name):
    assert rclone_name(name) == rclone_listing[name]


@pytest.mark.parametrize("name", QUOTED_QUOTES + [n for n in HOSTILE if "\u201b".encode() in n],
                         ids=repr)
def test_names_with_the_quote_character_are_reported_not_moved(name):
    """rclone cannot read such names back from a local file system (its mapping of them is
    not even consistent): they are left out of the transfer and reported as unrepresentable."""
    tool = RcloneTool("/s", "r:b/p")
    assert tool._dest_name("f", name) is None


def test_rclone_name_of_a_path_keeps_slashes():
    assert rclone_name(b"dir\nx/sub\tdir/f") == "dir\u240ax/sub\u2409dir/f".encode()


# --- object name length ----------------------------------------------------------------------

def _long(n):
    """A relative path of exactly n bytes, made of components no longer than 200 bytes."""
    parts, left = [], n
    while left > 0:
        take = min(200, left)
        parts.append(b"d" * take)
        left -= take + 1
    path = b"/".join(parts)
    return path[:n] if len(path) >= n else path + b"e" * (n - len(path))


def test_dest_name_length_limit_counts_prefix():
    plain = RcloneTool("/s", "oci:bucket")
    prefixed = RcloneTool("/s", "oci:bucket/some/prefix")  # 11 bytes + '/'
    assert plain._dest_name("f", _long(1024)) is not None
    assert plain._dest_name("f", _long(1025)) is None
    assert prefixed._dest_name("f", _long(1012)) is not None
    assert prefixed._dest_name("f", _long(1013)) is None


def test_dest_name_limit_applies_to_encoded_name_and_link_suffix():
    tool = RcloneTool("/s", "oci:bucket")
    assert len(b"\n" * 400) < 1024
    assert tool._dest_name("f", b"\n" * 400) is None  # 3 bytes each once encoded
    n = 1024 - len(LINK_SUFFIX)
    assert tool._dest_name("l", _long(n)) == _long(n) + LINK_SUFFIX
    assert tool._dest_name("l", _long(n + 1)) is None


def test_prepare_list_and_skips(tmp_path):
    tool = RcloneTool("/s", "oci:bucket", max_name_bytes=40)
    entries = [("f", 1, 0, b"a\nb"), ("d", 0, 0, b"emptydir"), ("l", 5, 0, b"lnk"),
               ("f", 1, 0, b"x" * 41)]
    path, skipped = tool.prepare(entries, str(tmp_path))
    with open(path, "rb") as handle:
        assert handle.read() == "a\u240ab\n".encode() + b"lnk.rclonelink\n"
    assert skipped == [["emptydir", "empty directory (object storage has no directories)"]]
    tool.symlinks = "skip"
    path, skipped = tool.prepare(entries, str(tmp_path))
    with open(path, "rb") as handle:
        assert handle.read() == "a\u240ab\n".encode()
    assert [s[0] for s in skipped] == ["emptydir", "lnk"]


# --- a real rclone transfer to a local destination -------------------------------------------

QUOTE = "\u201b".encode()


def _transfer(tmp_path, names, **kw):
    """Move files of these names with the real rclone to a local directory; return
    (tool, entries, verification, dst)."""
    src = os.fsencode(str(tmp_path / "src"))
    for i, name in enumerate(names):
        write(os.path.join(src, b"d", name), b"%d" % i * (i + 1))
    for extra in kw.pop("extra", ()):
        extra(src)
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    dst = str(tmp_path / "dst")
    os.makedirs(dst)
    # a local destination turns .rclonelink objects back into symlinks: leave links out
    tool = RcloneTool(os.fsdecode(src), dst, binary=RCLONE, symlinks="skip", **kw)
    work = str(tmp_path / "work")
    os.makedirs(work)
    list_path, skipped = tool.prepare(entries, work)
    with open(os.path.join(work, "log"), "wb") as log:
        for argv in tool.commands(list_path, work):
            subprocess.run(argv, stdout=log, stderr=log)
        result = tool.verify(entries, list_path, log)
    return tool, entries, list_path, skipped, result, dst


@needs_rclone
def test_transfer_and_verify_with_real_rclone(tmp_path):
    names = [n for n in HOSTILE if QUOTE not in n]
    long_name = b"L" * 100

    def extras(src):
        write(os.path.join(src, long_name), b"long")
        os.makedirs(os.path.join(src, b"empty"))
        os.symlink(b"d/plain", os.path.join(src, b"link"))

    tool, entries, list_path, skipped, result, dst = _transfer(
        tmp_path, names, extra=[extras], max_name_bytes=80)
    assert sorted(s[0] for s in skipped) == ["empty", "link"]
    assert result.mismatches == []
    assert result.unrepresentable == [[os.fsdecode(long_name), "object name longer than 80 bytes"]]
    assert result.files == len(names)
    assert result.bytes == sum(e[1] for e in entries if e[0] == "f" and e[3] != long_name)
    # a file missing at the destination is a mismatch
    os.unlink(os.path.join(dst, "d", "plain"))
    with open(os.path.join(str(tmp_path), "log2"), "wb") as log:
        result = tool.verify(entries, list_path, log)
    assert result.mismatches == [["d/plain", "missing at destination"]]


@needs_rclone
def test_names_with_rclone_quote_character_are_moved_or_reported(tmp_path):
    """U+201B is rclone's quote character. A name containing it must either arrive or be
    reported as unrepresentable; a partition that can never pass verification is a bug."""
    names = [n for n in HOSTILE if QUOTE in n] + [b"plain-neighbour"]
    _tool, _entries, _list, _skipped, result, _dst = _transfer(tmp_path, names)
    assert result.mismatches == [], "these names neither arrived nor were reported: %r" % (
        result.mismatches,)
    assert result.files + len(result.unrepresentable) == len(names)


@needs_rclone
def test_verify_fails_loudly_when_listing_fails(tmp_path):
    tool = RcloneTool("/s", "no-such-remote:bucket", binary=RCLONE)
    list_path = str(tmp_path / "list")
    with open(list_path, "wb") as handle:
        handle.write(b"a\n")
    with open(str(tmp_path / "log"), "wb") as log, pytest.raises(ToolError):
        tool.verify([("f", 1, 0, b"a")], list_path, log)

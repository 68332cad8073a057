"""tools.rsync.RsyncTool: argv lists, verification, recovery after a killed rsync."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.plan.crawl import Crawl
from ansible_collections.datamover.fleet.plugins.module_utils.tools import (
    find_binary,
    make_tool,
    tool_version,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.base import (
    ToolError,
    parse_version,
)
from ansible_collections.datamover.fleet.plugins.module_utils.tools.rsync import (
    LEGACY_TEMP_DIR,
    RsyncTool,
)

from tests.unit.helpers import write


def _list(tmp_path, *names):
    path = tmp_path / "paths0.txt"
    path.write_bytes(b"".join(n + b"\0" for n in names))
    return str(path)


def test_commands_are_argv_lists(tmp_path):
    opts = ["--bwlimit=10M", "--rsh=ssh -p 2222 -o 'x y'", "--exclude", "a b; rm -rf /"]
    tool = RsyncTool("/src", "/dst", options=opts, binary="/usr/bin/rsync")
    cmds = tool.commands(_list(tmp_path, b"a/b", b"-x", b"host:f", b"\xff\n*"), "/work")
    assert len(cmds) == 1
    argv = cmds[0]
    assert argv[0] == "/usr/bin/rsync"
    assert "-R" in argv and not any(str(a).startswith("--files-from") for a in argv)
    dashdash = argv.index("--")
    # each path is one absolute argument after "--": no option, no host:path, no pattern
    assert argv[dashdash + 1:] == [b"/src/./a/b", b"/src/./-x", b"/src/./host:f",
                                   b"/src/./\xff\n*", "/dst/"]
    idx = [argv.index(o) for o in opts]
    assert idx == sorted(idx), "user options keep their order"
    assert all(i < dashdash for i in idx)
    assert idx == list(range(idx[0], idx[0] + len(opts))), "each option is one argv item"
    assert tool.describe(argv)[dashdash + 1:] == ["<4 paths of the partition list>", "/dst/"]


@pytest.mark.parametrize("src,dst", [("/src/", "/dst/"), ("/src///", "/dst//"), ("/src", "/dst"),
                                     ("/x/../src/.", "/dst")])
def test_source_and_destination_end_with_one_slash(tmp_path, src, dst):
    argv = RsyncTool(src, dst).commands(_list(tmp_path, b"f"), "/w")[0]
    assert argv[-2:] == [b"/src/./f", "/dst/"]


def test_long_lists_are_split_under_the_argument_budget(tmp_path, monkeypatch):
    """A batch whose paths exceed the argument budget is moved by several rsyncs, each
    under the budget, together holding every path once and in order."""
    from ansible_collections.datamover.fleet.plugins.module_utils.tools import rsync
    monkeypatch.setattr(rsync, "_ARGV_BUDGET", 4096)
    names = [b"dir/%04d-%s" % (i, b"n" * 40) for i in range(500)]
    argvs = RsyncTool("/src", "/dst").commands(_list(tmp_path, *names), "/w")
    assert len(argvs) > 5
    got = []
    for argv in argvs:
        assert sum(len(os.fsencode(a)) + 9 for a in argv) <= 4096
        assert argv[-1] == "/dst/"
        got += argv[argv.index("--") + 1:-1]
    assert got == [b"/src/./" + n for n in names]


def test_empty_list_runs_nothing(tmp_path):
    assert RsyncTool("/src", "/dst").commands(_list(tmp_path), "/w") == []


def test_hostile_names_arrive_as_they_are(tmp_path):
    """The real rsync with the argv of commands(): names that look like options, remote
    specs, patterns, or hold newlines and bytes that are not UTF-8."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    names = [b"-x", b"--delete", b"host:file", b"d:ir", b"g/[x]", b"g/*", b"new\nline", b"\xff\xfe",
             b"sp ace", b"back\\slash"]
    (src / "g").mkdir(parents=True)
    (src / "g" / "x").write_bytes(b"not in the list")
    for name in names:
        if name == b"d:ir":
            os.makedirs(os.path.join(bytes(src), name, b"sub"))
            with open(os.path.join(bytes(src), name, b"sub", b"f"), "wb") as handle:
                handle.write(b"f")
        else:
            with open(os.path.join(bytes(src), name), "wb") as handle:
                handle.write(name)
    dst.mkdir()
    for argv in RsyncTool(str(src), str(dst)).commands(_list(tmp_path, *names), str(tmp_path)):
        subprocess.run(argv, check=True)
    got = sorted(os.path.relpath(os.path.join(d, n), bytes(dst))
                 for d, _s, ns in os.walk(bytes(dst)) for n in ns)
    assert got == sorted([n for n in names if n != b"d:ir"] + [b"d:ir/sub/f"])
    assert not os.path.exists(os.path.join(bytes(dst), b"g", b"x")), "no pattern was expanded"


def test_no_temp_dir_and_legacy_temp_dir_cleaned(tmp_path):
    """rsync keeps its temp files beside each file (a --temp-dir costs 80% per partition);
    the run's end removes the temp directory runs of 0.1 kept."""
    dst = str(tmp_path / "dst")
    argv = RsyncTool("/src", dst).commands(_list(tmp_path, b"f"), "/w")[0]
    assert not any(str(a).startswith("--temp-dir") for a in argv)
    os.makedirs(os.path.join(dst, LEGACY_TEMP_DIR, "old-run"))
    RsyncTool("/src", dst).cleanup()
    assert os.listdir(dst) == []


def test_recover_removes_a_killed_rsyncs_temp_file_only(tmp_path):
    """A real rsync killed with SIGKILL mid-file leaves .<name>.XXXXXX beside the file; recover()
    removes exactly that, not a real file whose name looks the same, nor other files."""
    if RSYNC is None:
        pytest.skip("rsync is not installed")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(str(src / "sub" / "big"), os.urandom(4 << 20))
    write(str(src / "sub" / ".small.Ab12Cd"), b"a real file named like a temp file")
    write(str(src / "sub" / "small"), b"s")
    os.makedirs(dst / "sub")
    write(str(dst / "sub" / ".small.Ab12Cd"), b"copied earlier")
    write(str(dst / "sub" / ".other.Zz99Zz"), b"not a temp file of this partition")
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(str(src))]
    tool = RsyncTool(str(src), str(dst), binary=RSYNC, options=["--bwlimit=256"])
    lst = tool.prepare([e for e in entries if e[3] == b"sub/big"], str(tmp_path))[0]
    # its own session: SIGKILL reaches all of rsync's processes at once, as when a host dies
    # (a receiver that outlives its sender removes the temp file itself)
    proc = subprocess.Popen(tool.commands(lst, str(tmp_path))[0], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 20
    temp = []
    while not temp and time.time() < deadline:
        temp = [n for n in os.listdir(dst / "sub") if n.startswith(".big.")]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert temp, "rsync wrote no temp file within 20 s"
    time.sleep(0.2)
    assert [n for n in os.listdir(dst / "sub") if n.startswith(".big.")] == temp
    assert tool.recover(entries) == 1
    assert sorted(os.listdir(dst / "sub")) == [".other.Zz99Zz", ".small.Ab12Cd"]
    assert tool.recover(entries) == 0


def test_make_tool_from_run_meta(tmp_path):
    binary = tmp_path / "rsync-x"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    tool = make_tool({"tool": "rsync", "source": "/s", "destination": "/d",
                      "tool_options": ["-H"], "verify": "checksum"}, binary=str(binary))
    assert isinstance(tool, RsyncTool)
    assert tool.binary == str(binary) and tool.options == ["-H"]
    assert tool.verify_mode == "checksum"
    with pytest.raises(ToolError):
        make_tool({"tool": "scp", "source": "/s", "destination": "/d"})


# --- verification against a real transfer ---------------------------------------------------

RSYNC = shutil.which("rsync")


@pytest.fixture
def moved(tmp_path):
    if RSYNC is None:
        pytest.skip("rsync is not installed")
    src = os.fsencode(str(tmp_path / "src"))
    for name in (b"a", b"new\nline", b"bad\xff", b"sub/b"):
        write(os.path.join(src, name), name * 10)
    os.makedirs(os.path.join(src, b"empty"))
    os.symlink(b"a", os.path.join(src, b"link"))
    entries = [(e.kind, e.size, e.mtime_ns, e.path) for e in Crawl(src)]
    lst = os.path.join(str(tmp_path), "list")
    with open(lst, "wb") as handle:
        handle.write(b"".join(e[3] + b"\0" for e in entries))
    dst = str(tmp_path / "dst")
    tool = RsyncTool(os.fsdecode(src), dst, binary=RSYNC)
    for argv in tool.commands(lst, str(tmp_path)):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return tool, entries, os.fsdecode(src), dst


def test_verify_clean_transfer(moved):
    tool, entries, _src, _dst = moved
    result = tool.verify(entries)
    assert result.mismatches == [] and result.vanished == []
    assert result.files == sum(1 for e in entries if e[0] != "d")
    assert result.bytes == sum(e[1] for e in entries)


def test_verify_finds_differences(moved):
    tool, entries, src, dst = moved
    os.unlink(os.path.join(dst, "a"))
    with open(os.fsencode(os.path.join(dst, "sub")) + b"/b", "ab") as handle:
        handle.write(b"more")
    os.unlink(os.fsencode(dst) + b"/new\nline")
    os.unlink(os.fsencode(src) + b"/new\nline")  # vanished from the source too
    result = tool.verify(entries)
    problems = dict((p, why) for p, why in result.mismatches)
    assert problems["a"] == "missing at destination"
    assert problems["sub/b"].startswith("size ")
    assert result.vanished == ["new\nline"]


def test_verify_checksum_sees_content(moved):
    tool, entries, _src, dst = moved
    path = os.path.join(dst, "sub", "b")
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tool.verify(entries).mismatches == []
    tool.verify_mode = "checksum"
    assert tool.verify(entries).mismatches == [["sub/b", "content differs"]]


def test_a_checksum_retry_sends_a_file_of_the_same_size_and_mtime_again(moved, tmp_path):
    """rsync's quick check (size and mtime) would skip the file again: a retry of a
    checksum run sends it regardless (--ignore-times), and it then verifies."""
    tool, entries, _src, dst = moved
    path = os.path.join(dst, "sub", "b")
    st = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    tool.verify_mode = "checksum"
    failed = tool.verify(entries).failed
    lst = str(tmp_path / "retry")
    with open(lst, "wb") as handle:
        handle.write(b"".join(f[0][3] + b"\0" for f in failed))
    argvs = tool.commands(lst, str(tmp_path), retry=True)
    assert "--ignore-times" in argvs[0]
    assert "--ignore-times" not in tool.commands(lst, str(tmp_path))[0]
    for argv in argvs:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    assert tool.verify(entries).mismatches == []


def test_verify_symlink_that_vanished_from_source(moved):
    """A symlink removed from the source after the transfer is 'vanished', like a file; the
    verification must not crash on it."""
    tool, entries, src, dst = moved
    os.unlink(os.path.join(src, "link"))
    os.unlink(os.path.join(dst, "link"))
    assert tool.verify(entries).vanished == ["link"]
    os.symlink("a", os.path.join(dst, "link"))  # still at the destination
    result = tool.verify(entries)
    assert result.mismatches == []


def test_verify_a_file_changed_in_the_source_is_changed_not_failed(moved):
    """The source grew (or was rewritten) after the crawl: the destination differs from the
    manifest because the source does; noted as changed, not failed (no retry can fix it)."""
    tool, entries, src, dst = moved
    for path in (os.path.join(src, "sub", "b"), os.path.join(dst, "sub", "b")):
        with open(path, "ab") as handle:
            handle.write(b"grown")
    st = os.stat(os.path.join(src, "a"))
    os.utime(os.path.join(src, "a"), ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10 ** 9))
    os.utime(os.path.join(dst, "a"), ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10 ** 9))
    result = tool.verify(entries)
    assert result.failed == [] and result.mismatches == []
    changed = dict(result.changed)
    assert set(changed) == {"a", "sub/b"}
    assert "size 50 -> 55" in changed["sub/b"] and "modified" in changed["a"]
    assert result.files == sum(1 for e in entries if e[0] != "d") - 2


def test_prepare_creates_a_missing_destination_once(tmp_path):
    """Two slots' rsyncs starting at once would race to create it (one fails with code 11)."""
    tool = RsyncTool(str(tmp_path / "src"), str(tmp_path / "new" / "dst"))
    tool.prepare([("f", 1, 0, b"a")], str(tmp_path))
    assert (tmp_path / "new" / "dst").is_dir()


def test_carried_reads_rsyncs_file_count(tmp_path):
    log = tmp_path / "000001.1.log"
    log.write_bytes(b"$ rsync ...\n\nNumber of files: 2,051 (reg: 2,001, dir: 49, link: 1)\n"
                    b"Number of created files: 7\n")
    assert RsyncTool("/s", "/d").carried(str(log)) == 2002
    with open(log, "ab") as handle:  # a long list moved by a second rsync in turn
        handle.write(b"Number of files: 12 (reg: 10, dir: 2)\n")
    assert RsyncTool("/s", "/d").carried(str(log)) == 2012
    log.write_bytes(b"rsync error: some files could not be transferred\n")
    assert RsyncTool("/s", "/d").carried(str(log)) is None


# --- versions and binaries -------------------------------------------------------------------

@pytest.mark.parametrize("text,version", [
    ("rsync  version 3.2.7  protocol version 31", (3, 2, 7)),
    ("rclone v1.75.2", (1, 75, 2)),
    ("rclone v1.66.0-beta.7806.1a2b3c4d", (1, 66, 0)),
    ("rclone v1.61", (1, 61)),
    ("no version here", None),
    ("", None),
])
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_real_rsync_version():
    if RSYNC is None:
        pytest.skip("rsync is not installed")
    assert tool_version(find_binary("rsync")) >= RsyncTool.min_version


def test_find_binary(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit-rsync"
    explicit.write_text("#!/bin/sh\n")
    explicit.chmod(0o755)
    assert find_binary("rsync", str(explicit)) == str(explicit)
    with pytest.raises(ToolError, match="does not exist or is not executable"):
        find_binary("rsync", str(tmp_path / "missing"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError) as err:
        find_binary("definitely-not-a-datamover-tool")
    assert "not installed" in str(err.value)

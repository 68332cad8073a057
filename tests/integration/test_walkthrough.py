"""docs/walkthrough.md, run as a user would run it: its commands, in order, against a lab fleet.

How the page marks what runs (keep to it when editing the page):

- A fenced block with the info string ``console`` is a terminal session. A line starting with
  ``$ `` is a command (a line ending in ``\\`` continues it on the next line); every other line
  is output the page says the command prints, and must appear in the real output, in that
  order (a line of the page matches a line of the output after stripping; numbers may differ,
  and so may a size's unit; ``...`` on a line of its own stands for lines left out).
- An HTML comment right before a block gives it directives: ``<!-- walkthrough: ... -->``
  - ``file=NAME``: the block (any info string) is a file the user writes: the test writes it;
  - ``oci``: shown, not run: it needs a real OCI tenancy (the test checks these blocks exist
    and that tests/integration/test_oci_access.py and the molecule scenarios still cover them);
  - ``background``: the block's one command is started and left running (a first terminal);
    the blocks that follow run meanwhile (a second terminal), once the background run has
    settled at least one partition;
  - ``wait``: the block has no command: it is the output of the background command, which is
    waited for;
  - ``rc=N``: the exit status the command must end with (default 0).

The lab: 3 worker hosts (network namespaces with their own sshd, tests/lab/fleet.py, slot
``DATAMOVER_LAB_SLOT``) named like the page's (xfer-01..03), SeaweedFS S3 on the fleet's
bridge as the remote ``oci`` behind a latency proxy (which counts the requests, and is slowed
during the bulk pass so that it is still running when the page stops it). The page's paths are
replaced by the lab's in commands and files (LAB_PATHS), and back in the output before it is
compared. Lab-only settings are appended to migration.yml (LAB_VARS: small partitions for a
small tree, a short progress interval). Between passes the test changes the source as the
page says users do, and checks after each pass what the page claims: nothing written at the
bucket by the plan-only passes, the catch-up moved exactly the changed files, the mirror
deleted exactly the deleted ones, the audit holds.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import COLLECTIONS, ROOT, VENV_BIN
from tests.lab.fleet import Fleet, can_build_fleet
from tests.lab.latency_proxy import LatencyProxy
from tests.lab.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, rclone_binary
from tests.lab.trees import relative_files

OK, WHY = can_build_fleet()
needs_fleet = pytest.mark.skipif(not OK, reason="no fleet of namespaces here: " + WHY)

DOC = os.path.join(ROOT, "docs", "walkthrough.md")
HOSTS = ["xfer-01", "xfer-02", "xfer-03"]
BUCKET = "climate-archive"
DOC_SOURCE, DOC_SHARED, DOC_CONF = "/lustre/projects/climate", "/lustre/datamover", \
    "/etc/rclone/rclone.conf"
LAB_VARS = {"datamover_partition_files": 10, "datamover_watch_interval": 2,
            "datamover_backoff": 0.2}
# The passes of the page, in order (each one's run id), and what kind each is.
PASSES = ["plan-1", "bulk-1", "catchup-1", "final-plan", "final", "audit-1"]
CHANGED, ADDED, DELETED = 12, 5, 4  # users' writes before the catch-up pass
DELETED_LATE = 3  # deleted before the freeze: the final pass's mirror deletes them
MIB = 1 << 20

DIRECTIVE = re.compile(r"<!--\s*walkthrough:(?P<d>[^>]*?)-->\s*\n")
FENCE = re.compile(r"^```(?P<info>[\w.-]*)\n(?P<body>.*?)^```", re.S | re.M)


# --- the page -------------------------------------------------------------------------------
class Block:
    def __init__(self, info, body, directives):
        self.info, self.body, self.directives = info, body, directives
        self.steps = []  # [(command, [expected output lines])]
        if info != "console":
            return
        command, expected = None, []
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                if command is not None:
                    self.steps.append((command, expected))
                parts = [line[2:]]
                while parts[-1].endswith("\\") and i + 1 < len(lines):
                    i += 1
                    parts[-1] = parts[-1][:-1]
                    parts.append(lines[i])
                command, expected = " ".join(p.strip() for p in parts), []
            elif line.strip():
                expected.append(line)
            i += 1
        if command is not None or expected:
            self.steps.append((command, expected))

    def has(self, word):
        return word in self.directives

    def value(self, key, default=None):
        for d in self.directives:
            if d.startswith(key + "="):
                return d.split("=", 1)[1]
        return default


def page_blocks(text):
    out = []
    for fence in FENCE.finditer(text):
        before = text[:fence.start()].rstrip().rpartition("\n")[2]
        directive = DIRECTIVE.fullmatch(before + "\n")
        words = directive.group("d").split() if directive else []
        out.append(Block(fence.group("info"), fence.group("body"), words))
    return out


UNIT = r"B|KiB|MiB|GiB|TiB|bytes"
NUMBER = r"\d+(?:[.,]\d+)*"


def _pattern(line):
    """A line of the page as a regex over a line of output: numbers, a size's unit and the
    width of white space may differ; `` ... `` inside a line stands for any text."""
    out = []
    for token in re.split(r"(%s|\b(?:%s)\b|\s+|\.\.\.)" % (NUMBER, UNIT), line.strip()):
        if not token:
            continue
        if re.fullmatch(NUMBER, token):
            out.append(NUMBER)
        elif re.fullmatch(UNIT, token):
            out.append("(?:%s)" % UNIT)
        elif token.isspace():
            out.append(r"\s+")
        elif token == "...":
            out.append(".*")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


def expect_lines(expected, output, where):
    lines = [line.strip() for line in output.splitlines()]
    at = 0
    for want in expected:
        if want.strip() == "...":
            continue
        pattern = _pattern(want)
        for j in range(at, len(lines)):
            if pattern.fullmatch(lines[j]):
                at = j + 1
                break
        else:
            raise AssertionError("%s: the page shows\n  %s\nbut the output has no such line "
                                 "(after line %d):\n%s" % (where, want.strip(), at,
                                                           output[-6000:]))


# --- the lab --------------------------------------------------------------------------------
def make_tree(src):
    """A project tree of ~400 files: ensemble members of daily files, a few large restart
    files, a hard link and a sparse file (what the plan reports)."""
    os.makedirs(src)
    seed = bytes(range(256)) * 4096  # 1 MiB
    files = 0
    for member in range(1, 9):
        day_dir = os.path.join(src, "ensemble", "member-%02d" % member)
        os.makedirs(day_dir)
        for day in range(1, 49):
            size = (member * 7919 + day * 104729) % 60000
            with open(os.path.join(day_dir, "day-%03d.nc" % day), "wb") as handle:
                handle.write(seed[day:day + size])
            files += 1
    os.makedirs(os.path.join(src, "restart"))
    for i in range(3):
        with open(os.path.join(src, "restart", "restart-%d.bin" % i), "wb") as handle:
            handle.write(seed * (6 + i))
        files += 1
    os.makedirs(os.path.join(src, "scripts"))
    with open(os.path.join(src, "scripts", "run.sh"), "w") as handle:
        handle.write("#!/bin/sh\necho run\n")
    os.link(os.path.join(src, "scripts", "run.sh"), os.path.join(src, "scripts", "run-copy.sh"))
    with open(os.path.join(src, "restart", "sparse.dat"), "wb") as handle:
        handle.truncate(4 * MIB)
    return files + 3


def users_write(src):
    """What users do between the bulk pass and the catch-up: change, add, delete files."""
    files = [f for f in relative_files(src) if f.startswith("ensemble/")]
    changed, deleted = files[:CHANGED], files[-DELETED:]
    for rel in changed:
        with open(os.path.join(src, rel), "ab") as handle:
            handle.write(b"appended by a user")
    added = ["ensemble/member-09/day-%03d.nc" % d for d in range(1, ADDED + 1)]
    os.makedirs(os.path.join(src, "ensemble", "member-09"))
    for rel in added:
        with open(os.path.join(src, rel), "wb") as handle:
            handle.write(b"new day %s" % rel.encode())
    for rel in deleted:
        os.unlink(os.path.join(src, rel))
    return sorted(changed + added), sorted(deleted)


def users_delete_before_the_freeze(src):
    """What users do after the catch-up pass: delete a few more files."""
    files = [f for f in relative_files(src) if f.startswith("ensemble/member-0")]
    for rel in files[-DELETED_LATE:]:
        os.unlink(os.path.join(src, rel))


def planned(shared, run_id):
    parts = os.path.join(shared, run_id, "parts")
    out = []
    for name in sorted(n for n in os.listdir(parts) if n.endswith(".manifest")):
        with open(os.path.join(parts, name), "rb") as handle:
            for rec in handle.read().split(b"\0"):
                if rec and not rec.startswith((b"D ", b"T ")):
                    out.append(os.fsdecode(rec.partition(b"\t")[2]))
    return sorted(out)


def report(shared, run_id):
    with open(os.path.join(shared, run_id, "report.json")) as handle:
        return json.load(handle)


def inventory(fleet, path):
    lines = ["[workers]"] + ["%s ansible_host=%s" % (name, fleet.addresses[lab])
                             for name, lab in zip(HOSTS, fleet.names)]
    lines += ["", "[workers:vars]", "ansible_user=root",
              "ansible_ssh_private_key_file=" + fleet.key,
              "ansible_ssh_common_args='-o StrictHostKeyChecking=no "
              "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'",
              "ansible_python_interpreter=" + sys.executable]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


class Lab:
    def __init__(self, tmp_path, fleet, proxy):
        self.tmp = str(tmp_path)
        self.src = os.path.join(self.tmp, "lustre", "projects", "climate")
        self.shared = os.path.join(self.tmp, "lustre", "datamover")
        self.conf = os.path.join(self.tmp, "rclone.conf")
        self.site = os.path.join(self.tmp, "site")  # the checkout, as the user's cwd
        self.proxy = proxy
        os.makedirs(self.shared)
        os.makedirs(self.site)
        os.symlink(os.path.join(ROOT, "playbooks"), os.path.join(self.site, "playbooks"))
        inventory(fleet, os.path.join(self.site, "workers.ini"))
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("[oci]\ntype = s3\nprovider = SeaweedFS\nendpoint = http://%s:%d\n"
                         "access_key_id = %s\nsecret_access_key = %s\n"
                         % (fleet.gateway, proxy.port, ACCESS_KEY, SECRET_KEY))
        self.paths = [(DOC_SOURCE, self.src), (DOC_SHARED, self.shared), (DOC_CONF, self.conf)]
        self.env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
                        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                        ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.log = os.environ.get("DATAMOVER_WALKTHROUGH_LOG")  # keep each command's output

    def to_lab(self, text):
        for doc, lab in self.paths:
            text = text.replace(doc, lab)
        return text

    def to_doc(self, text):
        for doc, lab in self.paths:
            text = text.replace(lab, doc)
        return text

    def write(self, name, body):
        body = self.to_lab(body)
        if name == "migration.yml":
            body += "# lab only (tests/integration/test_walkthrough.py)\n" + "".join(
                "%s: %s\n" % kv for kv in LAB_VARS.items())
        with open(os.path.join(self.site, name), "w") as handle:
            handle.write(body)

    def start(self, command, name):
        out = open(os.path.join(self.tmp, "%s.out" % name), "w+")
        proc = subprocess.Popen(["bash", "-c", self.to_lab(command)], cwd=self.site,
                                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return proc, out

    def finish(self, proc, out, name, timeout=600):
        proc.wait(timeout)
        out.seek(0)
        text = self.to_doc(out.read())
        out.close()
        if self.log:
            os.makedirs(self.log, exist_ok=True)
            with open(os.path.join(self.log, "%s.out" % name), "w") as handle:
                handle.write("$ %s\n%s" % (self.to_lab(proc.args[2]), text))
        return proc.returncode, text

    def listing(self):
        done = subprocess.run([rclone_binary(), "--config", self.conf, "lsf", "-R",
                               "--files-only", "oci:%s" % BUCKET], capture_output=True,
                              check=True)
        return sorted(n for n in done.stdout.decode().split("\n") if n)


def run_id_of(command):
    found = re.search(r"datamover_run_id=(\S+)", command)
    return found.group(1) if found else None


# --- what the page claims, pass by pass -----------------------------------------------------
def check_plan(lab, counts):
    assert not (counts.get("PUT") or counts.get("POST") or counts.get("DELETE")), counts
    assert lab.listing() == []  # the plan-only pass wrote nothing at the bucket
    sec = report(lab.shared, "plan-1")["plan_only"]
    assert sec["files"] == len(relative_files(lab.src))  # a hard link counts once per name
    assert sec["hardlinks"]["files"] == 2 and sec["sparse"]["files"] == 1, sec
    assert sec["cost"]["currency"] == "USD" and sec["time"]["seconds"] > 0, sec
    with open(os.path.join(lab.shared, "plan-1", "report.html")) as handle:
        assert 'class="histogram"' in handle.read()


def check_stopped(lab):
    rep = report(lab.shared, "bulk-1")
    assert rep["stopped"] and rep["partitions"]["done"] < rep["partitions"]["total"], rep


def check_bulk(lab):
    rep = report(lab.shared, "bulk-1")
    assert rep["status"] == "succeeded", rep
    assert rep["verification"]["verified_earlier"]["files"] > 0, rep["verification"]
    assert lab.listing() == ["projects/climate/" + f for f in relative_files(lab.src)]


def check_catchup(lab, moved, deleted):
    assert planned(lab.shared, "catchup-1") == moved  # exactly the changes, nothing else
    inc = report(lab.shared, "catchup-1")["incremental"]
    assert (inc["new"], inc["changed"], inc["deleted"]) == (ADDED, CHANGED, DELETED), inc
    held = set(lab.listing())
    assert {"projects/climate/" + f for f in moved} <= held
    assert {"projects/climate/" + f for f in deleted} <= held  # only reported, not deleted


def check_final_plan(lab, counts):
    assert not (counts.get("PUT") or counts.get("POST") or counts.get("DELETE")), counts
    inc = report(lab.shared, "final-plan")["incremental"]
    assert inc["mirror"]["requested"] is False, inc
    assert inc["mirror"]["would_delete"] == DELETED + DELETED_LATE, inc


def check_final(lab):
    inc = report(lab.shared, "final")["incremental"]
    assert inc["mirror"]["applied"] == DELETED + DELETED_LATE, inc
    assert lab.listing() == ["projects/climate/" + f for f in relative_files(lab.src)]


def check_audit(lab, counts):
    rep = report(lab.shared, "audit-1")
    assert rep["status"] == "succeeded" and rep["verification"]["audit"], rep["verification"]
    assert not (counts.get("PUT") or counts.get("POST") or counts.get("DELETE")), counts


# --- the walk -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet():
    with Fleet(hosts=3) as f:
        yield f


@needs_fleet
def test_the_walkthrough_runs_as_written(tmp_path, fleet):
    with open(DOC, encoding="utf-8") as handle:
        blocks = page_blocks(handle.read())
    oci = [b for b in blocks if b.has("oci")]
    shown = " ".join(b.body for b in oci)
    for playbook in ("provision.yml", "oci_access.yml", "oci_preflight.yml"):
        assert "playbooks/" + playbook in shown, "the page no longer shows " + playbook
    with open(os.path.join(ROOT, "tests", "integration", "test_oci_access.py")) as handle:
        covered = handle.read()
    assert "oci_preflight.yml" in covered and "oci_access.yml" in covered
    runnable = [b for b in blocks if b.info == "console" and not b.has("oci")]
    ids = [run_id_of(c) for b in runnable for c, _ in b.steps if c and "migrate.yml" in c]
    assert [i for n, i in enumerate(ids) if i not in ids[:n]] == PASSES, ids

    with SeaweedS3(bucket=BUCKET, host=fleet.gateway, workdir=str(tmp_path / "weed")) as s3, \
            LatencyProxy(s3.base + 3, delay=0.0, target_host=fleet.gateway,
                         listen_host=fleet.gateway) as proxy:
        lab = Lab(tmp_path, fleet, proxy)
        make_tree(lab.src)
        background = None
        moved = deleted = None
        seen = []
        for n, block in enumerate(blocks):
            name = block.value("file")
            if name:
                lab.write(name, block.body)
                continue
            if block.info != "console" or block.has("oci"):
                continue
            if block.has("wait"):
                proc, out, run_id, bg_name = background
                rc, text = lab.finish(proc, out, bg_name)
                assert rc == int(block.value("rc", 0)), (bg_name, rc, text[-4000:])
                expect_lines(block.steps[0][1] if block.steps else [], text, bg_name)
                background = None
                proxy.delay = 0.0
                check_stopped(lab)
                continue
            for k, (command, expected) in enumerate(block.steps):
                run_id = run_id_of(command)
                step = "%02d-%d-%s" % (n, k, run_id or command.split()[0])
                if run_id == "catchup-1" and moved is None:
                    moved, deleted = users_write(lab.src)
                if run_id == "final-plan" and run_id not in seen:
                    users_delete_before_the_freeze(lab.src)
                if block.has("background"):
                    proxy.delay = 1.0  # a slow link: the bulk pass is still running below
                    proc, out = lab.start(command, step)
                    background = (proc, out, run_id, step)
                    wait_for_a_settled_partition(lab.shared, run_id, proc)
                    continue
                proxy.reset_counts()
                proc, out = lab.start(command, step)
                rc, text = lab.finish(proc, out, step)
                assert rc == int(block.value("rc", 0)), (step, rc, text[-4000:])
                expect_lines(expected, text, step)
                counts = proxy.counts()
                if run_id in seen or "migrate.yml" not in command:
                    continue  # a re-run (the resume is bulk-1's first run in the foreground)
                seen.append(run_id)
                if run_id == "plan-1":
                    check_plan(lab, counts)
                elif run_id == "bulk-1":
                    check_bulk(lab)
                elif run_id == "catchup-1":
                    check_catchup(lab, moved, deleted)
                elif run_id == "final-plan":
                    check_final_plan(lab, counts)
                elif run_id == "final":
                    check_final(lab)
                elif run_id == "audit-1":
                    check_audit(lab, counts)
        assert background is None, "a background command was never waited for"
    assert seen == PASSES, seen


def wait_for_a_settled_partition(shared, run_id, proc, timeout=120):
    done = os.path.join(shared, run_id, "state", "done")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("the background command ended before the page's next step (rc %s)"
                        % proc.returncode)
        if os.path.isdir(done) and os.listdir(done):
            return
        time.sleep(0.2)
    pytest.fail("no partition of %s settled within %ds" % (run_id, timeout))


def test_page_blocks_parse_the_markers():
    text = ("<!-- walkthrough: background rc=2 -->\n```console\n$ echo a \\\n  b\nout\n...\n```\n"
            "\n```console\n$ true\n```\n")
    first, second = page_blocks(text)
    assert first.has("background") and first.value("rc") == "2" and not second.directives
    assert first.steps == [("echo a b", ["out", "..."])]
    assert _pattern("run x: 3/12 partitions done, 1.5 MiB").fullmatch(
        "run x: 10/12 partitions done, 980 KiB")
    assert _pattern("xfer-01    : ok=9 ... failed=0").fullmatch("xfer-01 : ok=10  changed=4  failed=0")
    assert not _pattern("run x: SUCCEEDED").fullmatch("run x: FAILED")

"""Trees to migrate (a realistic sample, a hostile one) and an exact tree comparison."""
from __future__ import annotations

import hashlib
import os
import random
import stat


def sample_tree(root, files=20000, seed=7, big_files=6, big_mib=24):
    """Nested directories, files from 0 bytes to tens of MiB; deterministic for a seed.

    Returns (files, bytes).
    """
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    block = rng.randbytes(1 << 20)
    total = count = 0
    dirs = [""]
    for i in range(files):
        if i % 150 == 0:
            depth_parent = rng.choice(dirs[-20:])
            new = os.path.join(depth_parent, "d%04d" % len(dirs)) if depth_parent.count("/") < 5 \
                else "d%04d" % len(dirs)
            dirs.append(new)
            os.makedirs(os.path.join(root, new), exist_ok=True)
        d = dirs[-1] if rng.random() < 0.7 else rng.choice(dirs)
        if i < big_files:
            size = rng.randint(big_mib // 2, big_mib) << 20
        else:
            size = int(rng.paretovariate(1.2) * 600) if rng.random() > 0.02 else 0
            size = min(size, 4 << 20)
        path = os.path.join(root, d, "f%06d.bin" % i)
        with open(path, "wb") as handle:
            left, offset = size, rng.randrange(0, 1 << 19)
            while left > 0:
                chunk = block[offset: offset + min(left, len(block) - offset)]
                handle.write(chunk)
                left -= len(chunk)
                offset = 0
        total += size
        count += 1
    return count, total


HOSTILE_NAMES = [
    b"with space", b"tab\there", b"new\nline", b"-leading-dash", b"--rf", b"'single'",
    b'"double"', b"$(touch datamover-pwned)", b"`touch datamover-pwned`", b"star*",
    b"question?", b"semi;colon", b"back\\slash", b"non-utf8-\xff\xfe", b"latin1-caf\xe9",
    b"x" * 255, b"trailing space ", b".hidden", b"\xe2\x90\x8a-literal-picture", b"emoji-\xf0\x9f\x93\xa6",
]


def hostile_tree(root):
    """Every kind of name and entry that breaks naive scripts. Returns the list of relpaths."""
    broot = os.fsencode(root)
    os.makedirs(broot, exist_ok=True)
    made = []
    for i, name in enumerate(HOSTILE_NAMES):
        path = os.path.join(broot, name)
        with open(path, "wb") as handle:
            handle.write(b"content of %d " % i * (i + 1))
        made.append(name)
    os.makedirs(os.path.join(broot, b"dir with space", b"-sub"), exist_ok=True)
    with open(os.path.join(broot, b"dir with space", b"-sub", b"inner\nfile"), "wb") as handle:
        handle.write(b"inner")
    open(os.path.join(broot, b"empty-file"), "wb").close()
    deep = broot
    for level in range(40):
        deep = os.path.join(deep, b"level%02d" % level)
    os.makedirs(deep, exist_ok=True)
    with open(os.path.join(deep, b"deep-file"), "wb") as handle:
        handle.write(b"deep")
    os.symlink(b"with space", os.path.join(broot, b"link-to-file"))
    os.symlink(b"../nowhere", os.path.join(broot, b"dangling-link"))
    os.makedirs(os.path.join(broot, b"empty-dir"), exist_ok=True)
    return made


def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def relative_files(root):
    """Every non-directory entry under root, as sorted relative paths (text)."""
    out = []
    for dirpath, _dirs, names in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
    return sorted(out)


def tree_index(root, with_dirs=True, follow_links=False):
    """{relpath(bytes): description} of everything under root (contents hashed)."""
    broot = os.fsencode(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(broot):
        rel_dir = os.path.relpath(dirpath, broot)
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == b"." else os.path.join(rel_dir, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                if with_dirs:
                    out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_size, _digest(full))
    return out


def checkpoint_tree(root, shards=12, mib=128, seed=11):
    """An ML checkpoint: ``shards`` files of ``mib`` MiB. Fast to create, yet real bytes: each
    file holds its own random MiB at its start, middle and end, and holes (zeros, read and
    written as data by every tool) between them. Returns (files, bytes)."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    size = mib << 20
    for i in range(shards):
        with open(os.path.join(root, "shard-%05d-of-%05d.pt" % (i, shards)), "wb") as handle:
            for offset in (0, size // 2, size - (1 << 20)):
                handle.seek(offset)
                handle.write(rng.randbytes(1 << 20))
    return shards, shards * size


def diff_trees(a, b, with_dirs=True):
    """Human-readable differences between two trees (empty list = identical)."""
    ia, ib = tree_index(a, with_dirs), tree_index(b, with_dirs)
    problems = []
    for rel in sorted(set(ia) | set(ib)):
        if ia.get(rel) != ib.get(rel):
            problems.append("%r: %r != %r" % (rel, ia.get(rel), ib.get(rel)))
    return problems

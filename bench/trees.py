"""Benchmark trees (deterministic for a seed): T1 small files, T2 large files, T3 skewed, T4 crawl-only."""
from __future__ import annotations

import os
import random


def _write(path, size, block, rng):
    offset = rng.randrange(0, len(block) - 9000) if size < len(block) - 9000 else 0
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            chunk = block[offset: offset + min(left, len(block) - offset)]
            handle.write(chunk)
            left -= len(chunk)
            offset = 0


def t1(root, files=100_000, dirs=1000, seed=1):
    """100,000 files of 1-8 KiB in 1,000 directories (~440 MiB)."""
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    per = files // dirs
    for d in range(dirs):
        sub = os.path.join(root, "g%02d" % (d // 100), "d%04d" % d)
        os.makedirs(sub, exist_ok=True)
        for i in range(per):
            _write(os.path.join(sub, "f%05d.dat" % i), rng.randint(1024, 8192), block, rng)


def t2(root, files=40, mib=64, seed=2):
    """40 files of 64 MiB."""
    rng = random.Random(seed)
    block = rng.randbytes(mib << 20)
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        # rotate the block so files differ (no dedup anywhere can cheat)
        k = rng.randrange(0, len(block))
        with open(os.path.join(root, "big%03d.bin" % i), "wb") as handle:
            handle.write(block[k:])
            handle.write(block[:k])


def t3(root, tiny=50_000, big=20, big_mib=32, seed=3):
    """50,000 tiny files in one directory plus 20 files of 32 MiB elsewhere."""
    rng = random.Random(seed)
    flat = os.path.join(root, "flat")
    os.makedirs(flat, exist_ok=True)
    small = rng.randbytes(4096)
    for i in range(tiny):
        with open(os.path.join(flat, "t%06d" % i), "wb") as handle:
            handle.write(small[: rng.randint(0, 512)])
    block = rng.randbytes(big_mib << 20)
    for i in range(big):
        sub = os.path.join(root, "big", "b%02d" % (i % 4))
        os.makedirs(sub, exist_ok=True)
        k = rng.randrange(0, len(block))
        with open(os.path.join(sub, "big%02d.bin" % i), "wb") as handle:
            handle.write(block[k:])
            handle.write(block[:k])


def t4(root, files=1_000_000, dirs=2000):
    """1,000,000 empty files in 2,000 directories (crawl only)."""
    per = files // dirs
    for d in range(dirs):
        sub = os.path.join(root, "g%02d" % (d // 100), "d%04d" % d)
        os.makedirs(sub, exist_ok=True)
        for i in range(per):
            os.close(os.open(os.path.join(sub, "e%05d" % i), os.O_CREAT | os.O_WRONLY, 0o644))


def s3t(root, files=10_000, dirs=100, big=4, big_mib=16, seed=5):
    """The S3 tree: 10,000 small files (1-8 KiB) in 100 directories plus 4 files of 16 MiB."""
    t1(root, files=files, dirs=dirs, seed=seed)
    rng = random.Random(seed)
    os.makedirs(os.path.join(root, "big"), exist_ok=True)
    for i in range(big):
        with open(os.path.join(root, "big", "b%d.bin" % i), "wb") as handle:
            handle.write(rng.randbytes(big_mib << 20))


def s3d(root):
    """The S3 tree of small directories: 10,000 files (1-8 KiB), 10 in each of 1,000
    directories (10 groups of 100)."""
    t1(root, files=10_000, dirs=1000, seed=6)


def one(root):
    """A single file: the fixed cost of a run."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "only-file"), "wb") as handle:
        handle.write(b"x" * 4096)


def small(root, files=2000):
    """``files`` files of 1 KiB in one directory (one-file partitions)."""
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        with open(os.path.join(root, "s%05d" % i), "wb") as handle:
            handle.write(b"s" * 1024)


def t5(root, gib=2, seed=6):
    """One file of 2 GiB (a lone checkpoint shard): a random 64 MiB block, rotated for each
    64 MiB of the file so that no part repeats another."""
    rng = random.Random(seed)
    block = rng.randbytes(64 << 20)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "model-00001-of-00001.safetensors"), "wb") as handle:
        for _ in range((gib << 30) // len(block)):
            k = rng.randrange(0, len(block))
            handle.write(block[k:])
            handle.write(block[:k])


TREES = {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5, "s3t": s3t, "s3d": s3d, "one": one,
         "small": small}

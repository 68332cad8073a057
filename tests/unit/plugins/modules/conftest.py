"""Fixtures of the module tests: a small real source tree and a shared directory."""
from __future__ import annotations

import os

import pytest

from tests.unit.helpers import write

# 3 directories x 4 files + 2 at the top: 14 files, 6 directories (with the empty one)
FILES = {os.path.join("d%d" % d, "f%d" % i): b"x" * (d * 100 + i + 1)
         for d in range(3) for i in range(4)}
FILES.update({"top with space": b"hello", "empty": b""})


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    for rel, data in FILES.items():
        write(os.path.join(str(root), rel), data)
    os.makedirs(str(root / "empty-dir"))
    return str(root)


@pytest.fixture
def shared(tmp_path):
    return str(tmp_path / "shared")


def src_totals():
    return len(FILES), sum(len(v) for v in FILES.values())

"""The functional-core rules of DESIGN.md, checked by import-linter and a source scan."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CORE = [REPO / "npu_sim"]
FORBIDDEN_IN_CORE = ("import time", "from time", "asyncio", "print(", "logging", "socket")


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_never_reads_a_clock_sleeps_or_prints() -> None:
    for package in CORE:
        for path in package.rglob("*.py"):
            text = path.read_text()
            for word in FORBIDDEN_IN_CORE:
                assert word not in text, f"{path.relative_to(REPO)} uses {word!r}"

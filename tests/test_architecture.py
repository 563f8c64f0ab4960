"""The functional-core rules of DESIGN.md, checked by import-linter and a source scan."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CORE = [REPO / "npu_sim", REPO / "routing"]
FORBIDDEN_IN_CORE = re.compile(
    r"^\s*(import|from)\s+(time|asyncio|logging|socket|threading)\b"
    r"|\bprint\(|\bdatetime\.now\(",
    re.MULTILINE,
)


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_never_reads_a_clock_sleeps_or_prints() -> None:
    for package in CORE:
        for path in [package] if package.is_file() else package.rglob("*.py"):
            found = FORBIDDEN_IN_CORE.search(path.read_text())
            assert found is None, f"{path.relative_to(REPO)} uses {found.group(0)!r}"


def test_every_link_in_the_docs_resolves_in_a_plain_clone() -> None:
    """Relative links of README.md and ARCHITECTURE.md name files of this repository (a user's
    clone has nothing beside it)."""
    for doc in ("README.md", "ARCHITECTURE.md"):
        text = (REPO / doc).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert not target.startswith(".."), f"{doc} links outside the repository: {target}"
            assert (REPO / target).exists(), f"{doc} links to a missing file: {target}"

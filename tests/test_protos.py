"""The generated code in edgetier/v1 matches protos/ (regenerate: python -m edgetier.protogen)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_generated_code_is_fresh() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetier.protogen", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

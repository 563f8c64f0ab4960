"""Bad config files get errors naming file, field and line (never a traceback); servers bind
to loopback by default; secrets appear in no log and no metric."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local import LocalStack
from tests.live import scrape, small_stack

pytestmark = pytest.mark.timeout(120)


AGENT = "  - name: a\n    tier: {tier}\n    hardware: {hw}\n    models: {{yolov8s: w8a8}}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agents:\n" + AGENT.format(tier="moon", hw="ax630c"), ":3: agents.0.tier"),
        ("agents:\n" + AGENT.format(tier="edge", hw="ax640"), "unknown hardware 'ax640'"),
        ("agents: []\norchestrator: {policy: fastest}\n", "unknown policy 'fastest'"),
        ("agents:\n" + AGENT.format(tier="edge", hw="ax650n") + "    nodes: 0\n", "agents.0.nodes"),
        ("agents: [\n", "not valid YAML"),
    ],
)
def test_bad_stack_files_are_named_without_a_traceback(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", "up", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert str(path) in done.stderr and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_loopback_by_default_and_no_secret_in_logs_or_metrics(tmp_path: Path) -> None:
    secret = "very-secret-agent-token"
    with LocalStack(small_stack(), port=0, log_dir=tmp_path, token=secret) as stack:
        for endpoint in stack.endpoints():
            assert endpoint["grpc"].startswith("127.0.0.1:")
            assert endpoint["metrics"].startswith("http://127.0.0.1:")
            assert secret not in scrape(endpoint["metrics"])
    for log in tmp_path.glob("*.log"):
        assert secret not in log.read_text()

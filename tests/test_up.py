"""`edgetier up` with the default stack, as a user runs it: a real process tree on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.client import OrchestratorClient
from tests.processes import children_of, is_alive


@pytest.mark.timeout(120)
def test_default_up_serves_small_on_device_large_on_cloud_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgetier",
            "up",
            "--port",
            "0",
            "--time-scale",
            "0.02",
            "--log-dir",
            str(tmp_path),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        up = json.loads(line)
        assert up["nodes"] == 56
        assert {e["kind"] for e in up["endpoints"]} == {"orchestrator", "agent"}
        with OrchestratorClient(up["orchestrator"], timeout_s=60) as client:
            tiers = {n["tier"] for n in client.nodes()}
            assert tiers == {"device", "edge", "cloud"}
            small = client.infer("qwen2.5-0.5b", prompt="Hi", max_tokens=8)
            large = client.infer("llama3.1-70b", prompt="Prove it", max_tokens=8)
        assert small["tier"] == "device" and large["tier"] == "cloud"
        children = children_of(process.pid)
        assert len(children) == 4
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert all(not is_alive(pid) for pid in children)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

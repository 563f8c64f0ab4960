"""`edgetier up` with the default stack, as a user runs it: a real process tree on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.client import OrchestratorClient


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
        children = _children(process.pid)
        assert len(children) == 4
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert all(not _alive(pid) for pid in children)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"

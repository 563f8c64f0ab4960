"""The dashboards against the real thing: `edgetier up --prometheus` started as a user starts it,
traffic that reaches every tier (an escalation burst, requests with SLOs, vision requests), and
every PromQL of every Grafana panel, plus every dashboard variable, asked of that Prometheus
through its HTTP API. A panel without data is a defect of the dashboards, the rules or the
metrics, whichever is wrong.

Needs the `prometheus` binary (scripts/test installs Debian's); skips, saying so, without it.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from deploy.grafana import DASHBOARDS_DIR
from deploy.grafana.dashboards import panel_queries, substitute
from deploy.monitoring import free_port
from orchestrator.client import OrchestratorClient
from tests.live import small_stack
from tests.up_process import all_gone, edgetier_up, prometheus_api, wait_until_scraped

pytestmark = pytest.mark.timeout(180)
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="prometheus not on PATH (apt-get install prometheus; scripts/test does)",
)
DATA_TIMEOUT_S = 90.0
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*(\w+)\)$")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`edgetier up --prometheus` on a small stack; yields its JSON summary line, and on the way
    out stops it with SIGTERM and checks that every process it started is gone."""
    tmp = tmp_path_factory.mktemp("e2e")
    prometheus = ("--prometheus", "--prometheus-port", str(free_port()))
    with edgetier_up(tmp, small_stack(time_scale=0.02), *prometheus) as up:
        yield up.summary
        assert all_gone(up.stop()), "a child outlived edgetier up"


@pytest.fixture(scope="module")
def traffic(running: dict[str, Any]) -> Iterator[Counter[str]]:
    """Keeps every tier busy until the module ends; yields a live count of outcomes."""
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    thread = threading.Thread(
        target=_send_until, args=(running["orchestrator"], stop, outcomes), daemon=True
    )
    thread.start()
    yield outcomes
    stop.set()
    thread.join(timeout=60)


def _send_until(address: str, stop: threading.Event, outcomes: Counter[str]) -> None:
    """Rounds of: a device request with an SLO, a vision request, an edge request (the 7B does
    not fit a phone), a cloud request (the 70B fits only there) with an SLO it misses, and a
    burst on one phone whose one-slot queue overflows, so that requests escalate to the edge."""
    with (
        OrchestratorClient(address, timeout_s=30) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):

        def one(call: Callable[[], dict[str, Any]]) -> None:
            try:
                outcomes[call()["tier"]] += 1
            except grpc.RpcError as error:
                outcomes[error.code().name] += 1

        while not stop.is_set():
            calls: list[Callable[[], dict[str, Any]]] = [
                lambda: client.infer(
                    "qwen2.5-0.5b", prompt_tokens=32, max_tokens=16, client_node="dev-0", slo_ms=3e4
                ),
                lambda: client.infer("yolov8s", client_node="dev-1", slo_ms=5e3),
                lambda: client.infer("qwen2.5-7b", prompt_tokens=64, max_tokens=16, slo_ms=6e4),
                # Missed (the 70B takes ~0.4 modelled seconds): the cloud's SLO attainment is 0.
                lambda: client.infer("llama3.1-70b", prompt_tokens=64, max_tokens=8, slo_ms=200),
            ]
            calls += [
                lambda: client.infer(
                    "qwen2.5-0.5b", prompt_tokens=32, max_tokens=64, client_node="dev-2"
                )
            ] * 6
            list(pool.map(one, calls))
            stop.wait(0.5)


@needs_prometheus
@pytest.mark.usefixtures("traffic")  # from now on: the data the next test needs comes meanwhile
def test_prometheus_discovers_the_orchestrator_and_every_agent(running: dict[str, Any]) -> None:
    targets = wait_until_scraped(running)
    agents = {t["labels"].get("agent"): t["labels"].get("tier") for t in targets}
    assert agents == {None: None, "dev": "device", "edge": "edge", "cloud": "cloud"}


@needs_prometheus
def test_every_dashboard_panel_and_variable_has_data(
    running: dict[str, Any], traffic: Counter[str]
) -> None:
    url = running["prometheus"]
    checks = {
        f"{board} / {panel}: {expr}": _has_value(url, expr)
        for board, panel, expr in panel_queries()
    }
    checks |= {
        f"{board} / ${name}: {query}": _has_label_values(url, query)
        for board, name, query in _variables()
    }
    deadline = time.monotonic() + DATA_TIMEOUT_S
    missing = list(checks)
    while missing and time.monotonic() < deadline:
        missing = [name for name in missing if not checks[name]()]
        if missing:
            time.sleep(1)
    assert not missing, f"no data (traffic so far: {dict(traffic)}) for:\n" + "\n".join(missing)
    assert {"device", "edge", "cloud"} <= set(traffic), dict(traffic)


def _variables() -> list[tuple[str, str, str]]:
    """(dashboard, variable, label_values query) of every dashboard variable, "All" selected."""
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        for variable in document.get("templating", {}).get("list", []):
            query = variable.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            found.append((document["title"], variable["name"], substitute(str(query))))
    return found


def _has_value(url: str, expr: str) -> Callable[[], bool]:
    """True once the instant query returns a series with a finite value (NaN draws nothing)."""

    def check() -> bool:
        result = prometheus_api(url, "/api/v1/query", query=expr)["result"]
        return any(math.isfinite(float(series["value"][1])) for series in result)

    return check


def _has_label_values(url: str, query: str) -> Callable[[], bool]:
    """What Grafana asks for `label_values(selector, label)`: the label's values among the
    selector's series; True once there are some."""
    match = LABEL_VALUES.match(query)
    assert match, f"not a label_values query: {query}"
    selector, label = match.groups()

    def check() -> bool:
        return bool(prometheus_api(url, f"/api/v1/label/{label}/values", **{"match[]": selector}))

    return check


def test_without_prometheus_on_path_up_says_so_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", "up", "--prometheus", "--log-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert done.returncode == 2, done.stderr
    assert "prometheus is not on PATH" in done.stderr
    assert not list(tmp_path.iterdir()), "nothing started"

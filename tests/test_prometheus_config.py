"""deploy/prometheus: the scrape config and recording rules are valid, follow the metric contract,
and work in a real Prometheus that scrapes exporters speaking the contract.

The promtool and Prometheus tests need the `prometheus` Debian package (promtool and prometheus on
PATH) and skip, saying so, without it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from deploy.grafana.dashboards import panel_queries
from deploy.prometheus import (
    AGENT_TARGETS,
    CONFIG,
    ORCHESTRATOR_TARGETS,
    RULES,
    RULES_TEST,
    install,
    recording_rules,
    target_group,
    write_targets,
)
from deploy.prometheus.contract import AGENTS_JOB, METRICS, ORCHESTRATOR_JOB, SERIES
from deploy.prometheus.promql import metric_names

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not on PATH (apt-get install prometheus)"
)
RULE_NAME = re.compile(r"^[a-z_]+:edgetier_[a-z_]+:[a-z0-9_]+$")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# --- the files, read as a user would ------------------------------------------------------------


def test_scrape_config_has_one_job_per_process_kind_via_file_sd() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    interval = config["global"]["scrape_interval"]
    assert re.fullmatch(r"[1-5]s", interval), f"demo scrape interval should be 1-5s: {interval}"
    assert config["rule_files"] == [RULES.name]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {ORCHESTRATOR_JOB, AGENTS_JOB}
    for name, files in ((ORCHESTRATOR_JOB, ORCHESTRATOR_TARGETS), (AGENTS_JOB, AGENT_TARGETS)):
        job = jobs[name]
        assert job["file_sd_configs"] == [{"files": [str(files)], "refresh_interval": "5s"}]
        # Without it an agent's target label `tier` would push the metric's to exported_tier.
        assert job["honor_labels"] is True, name


def test_write_targets_writes_file_sd_json_atomically(tmp_path: Path) -> None:
    path = tmp_path / AGENT_TARGETS
    groups = [target_group("127.0.0.1:9470", tier="edge", agent="edge-0")]
    write_targets(path, groups)
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9470"], "labels": {"tier": "edge", "agent": "edge-0"}}
    ]
    write_targets(path, [])
    assert json.loads(path.read_text()) == []
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left behind"


def test_install_puts_config_and_rules_side_by_side(tmp_path: Path) -> None:
    config = install(tmp_path / "run")
    assert config.read_text() == CONFIG.read_text()
    assert (config.parent / RULES.name).read_text() == RULES.read_text()
    assert (config.parent / "targets").is_dir()


def test_rules_use_only_contract_metrics_and_earlier_rules() -> None:
    known = set(SERIES)
    for name, expr in recording_rules():
        used = metric_names(expr)
        assert used, f"{name}: selects no metric"
        assert used <= known, f"{name} uses {sorted(used - known)}, in neither contract nor rules"
        known.add(name)


def test_rule_names_follow_level_metric_operations() -> None:
    for name, _ in recording_rules():
        assert RULE_NAME.match(name), name
        level, metric, _ = name.split(":")
        bases = [m.removesuffix("_total") for m in METRICS]
        assert any(metric.startswith(b) for b in bases), f"{name}: {metric} is no contract metric"
        assert set(level.split("_")) <= {"tier", "model", "outcome", "met", "from", "to", "reason"}


def test_metric_names_sees_through_functions_matchers_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (tier, le) (rate(a_bucket{tier=~"$x|y", m="b c"}[1m])))'
        " / on (tier) group_left (model) (b:c:d or 0 * sum without (le) (e offset 5m)) > bool 1e3"
    )
    assert metric_names(expr) == {"a_bucket", "b:c:d", "e"}
    assert metric_names("1 - edgetier_node_up") == {"edgetier_node_up"}


# --- promtool -------------------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_config_as_installed(tmp_path: Path) -> None:
    config = install(tmp_path)
    write_targets(config.parent / ORCHESTRATOR_TARGETS, [target_group("127.0.0.1:9464")])
    write_targets(
        config.parent / AGENT_TARGETS,
        [target_group("127.0.0.1:9470", tier="edge", agent="edge-0")],
    )
    done = promtool("check", "config", config.name, cwd=config.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, "target files were not found"


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_rules_compute_what_they_say() -> None:
    """Rates, SLO ratio, joules per request, power, a quantile: see rules_test.yml."""
    done = promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr


# --- a real Prometheus scraping exporters that follow the contract --------------------------------

LABEL_VALUES = {
    "tier": ("device", "edge", "cloud"),
    "model": ("qwen2.5-0.5b", "yolov8n"),
    "outcome": ("ok", "unavailable"),
    "met": ("true", "false"),
    "from_tier": ("device",),
    "to_tier": ("edge",),
    "reason": ("queue_full",),
    "node": ("n0",),
    "task": ("chat",),
}


class FakeExporter:
    """One process's contract metrics on a loopback port, changing while it runs, so that rates
    and quantiles have something to compute."""

    def __init__(self, job: str) -> None:
        self.registry = CollectorRegistry()
        self.children: list[tuple[str, object]] = []
        for name, metric in METRICS.items():
            if metric.job != job:
                continue
            labels = list(metric.labels)
            family: Counter | Gauge | Histogram
            if metric.kind == "counter":
                family = Counter(name, name, labels, registry=self.registry)
            elif metric.kind == "gauge":
                family = Gauge(name, name, labels, registry=self.registry)
            else:
                family = Histogram(name, name, labels, buckets=(0.1, 1, 10), registry=self.registry)
            for values in itertools.product(*(LABEL_VALUES[label] for label in labels)):
                self.children.append((metric.kind, family.labels(*values)))
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.address = f"127.0.0.1:{self.server.server_port}"

    def tick(self) -> None:
        for kind, child in self.children:
            if kind == "counter":
                child.inc()  # type: ignore[attr-defined]
            elif kind == "gauge":
                child.set(1)  # type: ignore[attr-defined]
            else:
                child.observe(0.5)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 400: Prometheus rejected the expression
        pytest.fail(f"{expr}: {exc.read().decode()}")
    assert body["status"] == "success", body
    return body["data"]["result"]


def has_finite_value(result: list[dict[str, object]]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)  # type: ignore[index]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Prometheus on loopback with the shipped config, scraping one fake orchestrator and one
    fake agent (labelled tier=edge, agent=edge-0) that keep changing; yields its port."""
    if PROMETHEUS is None:
        pytest.skip("prometheus not on PATH (apt-get install prometheus)")
    run = tmp_path_factory.mktemp("prometheus")
    config = install(run)
    orchestrator, agent = FakeExporter(ORCHESTRATOR_JOB), FakeExporter(AGENTS_JOB)
    write_targets(run / ORCHESTRATOR_TARGETS, [target_group(orchestrator.address)])
    write_targets(run / AGENT_TARGETS, [target_group(agent.address, tier="edge", agent="edge-0")])
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.25):
            orchestrator.tick()
            agent.tick()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    port = free_port()
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={run / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"prometheus did not start: {server.communicate()[1]}")
                time.sleep(0.2)
        yield port
    finally:
        stop.set()
        feeder.join(timeout=5)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        orchestrator.close()
        agent.close()


def wait_for_data(port: int, exprs: list[str], timeout_s: float = 60) -> list[str]:
    """The expressions still without a finite value when `timeout_s` runs out (rates need two
    scrapes, rules over rates one more evaluation: a few seconds at the demo intervals)."""
    deadline = time.monotonic() + timeout_s
    missing = list(exprs)
    while missing and time.monotonic() < deadline:
        missing = [e for e in missing if not has_finite_value(query(port, e))]
        if missing:
            time.sleep(1)
    return missing


@needs_prometheus
def test_agent_metrics_keep_their_own_tier_label(prometheus: int) -> None:
    """honor_labels: the agent target is labelled tier=edge, yet its device series stay device,
    and the target's other labels (agent) still arrive."""
    up = [f'up{{job="{job}"}} == 1' for job in (ORCHESTRATOR_JOB, AGENTS_JOB)]
    assert not wait_for_data(prometheus, [*up, "edgetier_power_watts"]), "targets not scraped"
    device = query(prometheus, 'edgetier_power_watts{tier="device", agent="edge-0"}')
    assert device, "the metric's tier label was overwritten by the target's"
    assert not query(prometheus, '{__name__=~"edgetier_.*", exported_tier!=""}')


@needs_prometheus
def test_every_recording_rule_and_dashboard_query_has_data(prometheus: int) -> None:
    rules = sorted({name for name, _ in recording_rules()})
    panels = [expr for _, _, expr in panel_queries()]
    missing = wait_for_data(prometheus, rules + panels)
    assert not missing, "no data for:\n" + "\n".join(missing)

"""deploy/grafana: the committed dashboards are fresh, their queries valid and held to the metric
contract, and the provisioning files make Grafana show them against the right datasource.

Whether each query returns data from a live Prometheus is tested in test_prometheus_config.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.grafana import DASHBOARDS_DIR, DATASOURCE_UID, PROVISIONING_DIR
from deploy.grafana.dashboards import DASHBOARDS, panel_queries, stale, substitute, write
from deploy.prometheus import recording_rules
from deploy.prometheus.contract import METRICS, SERIES
from deploy.prometheus.promql import metric_names
from tests.conftest import REPO

PROMTOOL = shutil.which("promtool")
RULES = dict(recording_rules())


def committed() -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))]


def panels(dashboard: dict[str, object]) -> list[dict[str, object]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]  # type: ignore[attr-defined]


def edgetier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- generation -----------------------------------------------------------------------------


def test_committed_json_is_what_the_code_generates() -> None:
    done = edgetier("dashboards", "build", "--check")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in DASHBOARDS_DIR.glob("*.json")) == sorted(
        d.file_name for d in DASHBOARDS
    )


def test_check_names_a_stale_missing_or_leftover_file(tmp_path: Path) -> None:
    write(tmp_path)
    assert stale(tmp_path) == []
    overview, nodes = (tmp_path / d.file_name for d in DASHBOARDS)
    overview.write_text(overview.read_text().replace("Requests/s", "Requests per second"))
    nodes.unlink()
    (tmp_path / "hand-made.json").write_text("{}")
    assert stale(tmp_path) == sorted([overview.name, nodes.name, "hand-made.json"])
    done = edgetier("dashboards", "build", "--check", "--output", str(tmp_path))
    assert done.returncode == 1
    assert overview.name in done.stderr
    assert edgetier("dashboards", "build", "--output", str(tmp_path)).returncode == 0
    assert stale(tmp_path) == []


def test_dashboards_have_the_expected_titles_and_unique_ids() -> None:
    titles = {d["title"] for d in committed()}
    assert {"EdgeTier overview", "EdgeTier nodes"} <= titles
    for dashboard in committed():
        ids = [p["id"] for p in dashboard["panels"]]  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids)), dashboard["title"]
        for panel in dashboard["panels"]:  # type: ignore[attr-defined]
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


# --- queries ----------------------------------------------------------------------------------


def test_panel_queries_lists_every_target_with_variables_substituted() -> None:
    targets = [t for d in committed() for p in panels(d) for t in p["targets"]]
    queries = panel_queries()
    assert len(queries) == len(targets) > 0
    assert {d for d, _, _ in queries} == {d["title"] for d in committed()}
    for dashboard, panel, expr in queries:
        assert "$" not in expr, (dashboard, panel, expr)
    assert substitute('x{a=~"$tier", b=~"${model}"}[$__rate_interval]') == 'x{a=~".*", b=~".*"}[1m]'


def test_queries_command_prints_the_same_list() -> None:
    done = edgetier("dashboards", "queries", "--json")
    assert done.returncode == 0, done.stderr
    printed = [(q["dashboard"], q["panel"], q["expr"]) for q in json.loads(done.stdout)]
    assert printed == panel_queries()


def test_every_query_uses_only_contract_metrics_or_recording_rules() -> None:
    known = SERIES | RULES.keys()
    for dashboard, panel, expr in panel_queries():
        used = metric_names(expr)
        assert used, f"{dashboard} / {panel}: no metric in {expr}"
        assert used <= known, f"{dashboard} / {panel} uses unknown {sorted(used - known)}"


def test_dashboards_cover_every_contract_metric() -> None:
    """Each contract metric shows up somewhere, directly or through a recording rule."""

    def expand(names: set[str]) -> set[str]:
        out = set()
        for name in names:
            out |= expand(metric_names(RULES[name])) if name in RULES else {name}
        return out

    used = expand({n for _, _, expr in panel_queries() for n in metric_names(expr)})
    missing = {m for m, spec in METRICS.items() if not set(spec.series(m)) & used}
    assert not missing, f"no panel shows {sorted(missing)}"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus)")
def test_every_query_parses(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule, and names the one it rejects."""
    assert PROMTOOL
    queries = panel_queries()
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"record": f"panel:check:q{i}", "expr": e}
                    for i, (_, _, e) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- variables and datasource -----------------------------------------------------------------


def test_every_dashboard_filters_by_tier_and_model() -> None:
    for dashboard in committed():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}  # type: ignore[index]
        assert {"tier", "model"} <= variables.keys(), dashboard["title"]
        for variable in variables.values():
            assert variable["type"] == "query"
            assert variable["datasource"]["uid"] == DATASOURCE_UID
            selector, _, label = variable["query"].removeprefix("label_values(").rpartition(",")
            assert label.strip() == f"{variable['name']})"
            assert metric_names(selector) <= SERIES
            assert variable["includeAll"] and variable["allValue"] == ".*"
        exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
        for name in variables:
            assert any(f"${name}" in e for e in exprs), f"{dashboard['title']}: ${name} unused"


def test_every_panel_and_query_reads_the_provisioned_datasource() -> None:
    for dashboard in committed():
        for panel in panels(dashboard):
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID


# --- provisioning -----------------------------------------------------------------------------


def test_datasource_provisioning_matches_the_dashboards_uid() -> None:
    files = sorted((PROVISIONING_DIR / "datasources").glob("*.yml"))
    assert files
    sources = [s for f in files for s in yaml.safe_load(f.read_text())["datasources"]]
    assert [s["uid"] for s in sources] == [DATASOURCE_UID]
    (source,) = sources
    assert source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"
    assert source["access"] == "proxy"


def test_dashboard_provisioning_points_at_the_generated_folder_from_the_repo_root() -> None:
    files = sorted((PROVISIONING_DIR / "dashboards").glob("*.yml"))
    assert files
    providers = [p for f in files for p in yaml.safe_load(f.read_text())["providers"]]
    assert len(providers) == 1
    (provider,) = providers
    assert provider["type"] == "file"
    path = Path(provider["options"]["path"])
    assert not path.is_absolute(), "relative, so it works from any clone's root"
    assert (REPO / path).resolve() == DASHBOARDS_DIR
    assert list((REPO / path).glob("*.json"))

"""Prometheus for EdgeTier: the scrape config, the recording rules, and file-based discovery.

`prometheus.yml` and `rules.yml` in this folder are the source; a launcher copies both into a run
directory with `install` (Prometheus resolves rule and target files relative to the config file,
so they must travel together) and keeps the target files there current with `write_targets`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "prometheus.yml"
RULES = HERE / "rules.yml"
RULES_TEST = HERE / "rules_test.yml"
ORCHESTRATOR_TARGETS = Path("targets/orchestrator.json")
"""Relative to the run directory: the orchestrator's metrics endpoint."""
AGENT_TARGETS = Path("targets/agents.json")
"""Relative to the run directory: one target group per device agent process."""


def install(run_dir: Path) -> Path:
    """Copy the config and rules into `run_dir`, create its `targets/` folder, return the path to
    pass as `--config.file`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "targets").mkdir(exist_ok=True)
    shutil.copyfile(RULES, run_dir / RULES.name)
    return Path(shutil.copyfile(CONFIG, run_dir / CONFIG.name))


def target_group(address: str, **labels: str) -> dict[str, object]:
    """One file_sd entry: `address` is host:port of a /metrics endpoint, `labels` go on every
    series scraped from it (agents: tier and agent)."""
    return {"targets": [address], "labels": dict(labels)}


def write_targets(path: Path, groups: list[dict[str, object]]) -> None:
    """Replace a file_sd target file atomically: Prometheus watches it and must never read a
    half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(groups, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def recording_rules(path: Path = RULES) -> list[tuple[str, str]]:
    """Every (record name, expression) in a rules file, in file order."""
    document = yaml.safe_load(path.read_text())
    return [
        (rule["record"], rule["expr"])
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]

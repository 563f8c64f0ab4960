"""Writing a scenario without guessing: `edgetier sim init` prints a starter that explains every
key and runs; `sim validate` checks a file without running it; `sim schema` prints the JSON
Schema, whose committed copies stay equal to what the models generate."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deploy.config import SCHEMA_FILE as STACK_SCHEMA
from deploy.config import StackConfig
from edgetier.cli.sim_files import schema_text
from fleetsim.scenario import SCHEMA_FILE as SCENARIO_SCHEMA
from fleetsim.scenario import STARTER_FILE, Scenario, load_scenario
from npu_sim.schema_errors import file_fields, members
from routing.specs import FILE_KEYS, PolicySpec
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(120)


def edgetier(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=110,
    )


@pytest.mark.parametrize(
    ("schema", "committed", "flags"),
    [(Scenario, SCENARIO_SCHEMA, []), (StackConfig, STACK_SCHEMA, ["--stack"])],
)
def test_the_committed_schema_is_what_the_models_generate(
    schema: Any, committed: Path, flags: list[str]
) -> None:
    regenerate = f"edgetier sim schema {' '.join(flags)} > {committed.relative_to(REPO)}"
    assert schema_text(schema) == committed.read_text(), f"stale: run {regenerate}"
    printed = edgetier("sim", "schema", *flags)
    assert printed.returncode == 0 and printed.stdout == committed.read_text()


def test_a_changed_model_no_longer_matches_the_committed_schema() -> None:
    """What the staleness test relies on: a new field shows in the generated schema."""

    @dataclasses.dataclass(frozen=True)
    class Grown(Scenario):
        colour: str = "blue"

    text = schema_text(Grown)
    assert '"colour"' in text and text != SCENARIO_SCHEMA.read_text()


def _files() -> list[tuple[Path, Path]]:
    scenarios = [*sorted((REPO / "scenarios").glob("*.yaml")), STARTER_FILE]
    stacks = sorted((REPO / "deploy" / "configs").glob("*.yaml"))
    return [(f, SCENARIO_SCHEMA) for f in scenarios] + [(f, STACK_SCHEMA) for f in stacks]


@pytest.mark.parametrize(("path", "schema"), _files(), ids=lambda p: p.name)
def test_shipped_files_pass_the_schema_and_a_misspelt_key_does_not(
    path: Path, schema: Path
) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema.read_text()))
    data = yaml.safe_load(path.read_text())
    assert not list(validator.iter_errors(data))
    data["seeed" if "seed" in data else "tim_scale"] = 1
    assert any("was unexpected" in e.message for e in validator.iter_errors(data))


def _records(schema: Any, seen: dict[type, None]) -> dict[type, None]:
    """Every dataclass a file of type `schema` may hold, however deep (but a policy, which a
    file writes as a name or as FILE_KEYS)."""
    for member in members(schema):
        if member is PolicySpec:
            continue
        if dataclasses.is_dataclass(member) and member not in seen:
            seen[member] = None  # type: ignore[index]
            for hint in file_fields(member).values():
                _records(hint, seen)
        for arg in typing.get_args(member):
            _records(arg, seen)
    return seen


def _default_text(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def test_the_starter_explains_every_key_and_states_every_default() -> None:
    text = STARTER_FILE.read_text()
    missing, undocumented = [], []
    for record in _records(Scenario, {}):
        fields = {f.name: f for f in dataclasses.fields(record)}
        for key, hint in file_fields(record).items():
            lines = [line for line in text.splitlines() if re.search(rf"\b{key}:", line)]
            if not lines:
                missing.append(f"{record.__name__}.{key}")
                continue
            default = fields[key].default
            single = typing.get_origin(hint) is typing.Literal and len(typing.get_args(hint)) == 1
            if default in (dataclasses.MISSING, None, "") or single:
                continue
            if not any(f"default {_default_text(default)})" in line for line in lines):
                undocumented.append(f"{record.__name__}.{key} (default {default})")
    missing += [f"policy.{key}" for key in FILE_KEYS if not re.search(rf"\b{key}:", text)]
    assert not missing, f"keys the starter does not mention: {missing}"
    assert not undocumented, f"defaults the starter does not state: {undocumented}"


def test_init_validate_run_work_in_an_empty_folder(tmp_path: Path) -> None:
    init = edgetier("sim", "init", cwd=tmp_path)
    assert init.returncode == 0 and init.stdout.startswith("# yaml-language-server: $schema=")
    (tmp_path / "my.yaml").write_text(init.stdout)
    checked = edgetier("sim", "validate", "my.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "my.yaml: a valid scenario 'my-scenario'" in checked.stdout
    ran = edgetier("sim", "run", "my.yaml", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "results" / "my-scenario" / "summary.csv").is_file()
    assert load_scenario(tmp_path / "my.yaml").name == "my-scenario"


def test_validate_names_the_file_line_and_key_of_a_bad_file_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "scenarios" / "tiny.yaml").read_text().replace("nodes: 3", "nodez: 3"))
    done = edgetier("sim", "validate", str(bad))
    assert done.returncode == 2
    assert f"{bad}:11: topology.dev.nodez: unknown key `nodez`; did you mean `nodes`?" in (
        done.stderr
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text((REPO / "deploy/configs/local.yaml").read_text().replace("policy:", "polcy:"))
    done = edgetier("sim", "validate", "--stack", str(stack))
    assert done.returncode == 2 and "unknown key `polcy`; did you mean `policy`?" in done.stderr
    good = edgetier("sim", "validate", "--stack", str(REPO / "deploy/configs/local.yaml"))
    assert "a valid stack file: 3 agents, 56 nodes" in good.stdout

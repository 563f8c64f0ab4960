"""Every file a user writes is strict: each key of every shipped scenario, stack and catalog
file, misspelt one at a time, is an error naming that key on its line; a bad stack file starts
no process. Only the names a user chooses (a topology group, a chip or model id of their own, a
Ray resource) may be anything."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import deploy.processes
from deploy.config import load_config
from edgetier.cli import main
from fleetsim.scenario import load_scenario
from npu_sim.catalog import load_catalog
from npu_sim.datafile import DataFileError
from tests.conftest import REPO

SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
STACKS = sorted((REPO / "deploy" / "configs").glob("*.yaml"))
CATALOGS = sorted((REPO / "examples" / "chips").glob("*.yaml"))
#: Mappings whose keys are names the user chooses (by their path, `*` any key or index).
FREE_NAMES = {("topology",), ("hardware",), ("models", "llm"), ("models", "vision")}
FREE_NAMES |= {("agents", "*", "ray_resources")}


def _free(path: tuple[str, ...]) -> bool:
    return any(
        len(path) == len(free) and all(f in ("*", p) for f, p in zip(free, path, strict=True))
        for free in FREE_NAMES
    )


def keys(node: yaml.Node, path: tuple[str, ...] = ()) -> Iterator[yaml.ScalarNode]:
    """Every key node of the document, outside the mappings of free names."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not _free(path):
                yield key
            yield from keys(value, (*path, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from keys(item, (*path, "*"))


def typo(word: str) -> str:
    """`word` with its last two different adjacent letters swapped (`weight` -> `weigth`)."""
    for i in range(len(word) - 2, -1, -1):
        if word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word + "x"


def misspelt(path: Path) -> Iterator[tuple[str, int, str]]:
    """(text with one key misspelt, the key's line, the misspelt key), for every key."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for key in keys(yaml.compose(text)):
        start, end = key.start_mark, key.end_mark
        assert start.line == end.line, f"{path}: a key spans lines"
        line = lines[start.line]
        wrong = typo(str(key.value))
        changed = line[: start.column] + wrong + line[end.column :]
        yield (
            "".join([*lines[: start.line], changed, *lines[start.line + 1 :]]),
            start.line + 1,
            wrong,
        )


def cases(files: list[Path]) -> list[tuple[Path, str, int, str]]:
    return [(path, *case) for path in files for case in misspelt(path)]


def check_every_misspelling(
    files: list[Path], tmp_path: Path, load: Callable[[Path], object]
) -> int:
    """Load each misspelt copy; each must fail naming the key on its line. Returns the count."""
    found = cases(files)
    for path, text, line, wrong in found:
        bad = tmp_path / path.name
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(DataFileError) as caught:
            load(bad)
        message = str(caught.value)
        assert any(
            row.startswith(f"{bad}:{line}: ") and wrong in row for row in message.splitlines()
        ), f"{path.name}:{line} `{wrong}`: {message}"
    return len(found)


def test_every_key_of_every_shipped_scenario_misspelt_is_an_error_naming_it(
    tmp_path: Path,
) -> None:
    assert check_every_misspelling(SCENARIOS, tmp_path, load_scenario) > 200


def test_every_key_of_every_shipped_catalog_file_misspelt_is_an_error_naming_it(
    tmp_path: Path,
) -> None:
    assert check_every_misspelling(CATALOGS, tmp_path, lambda p: load_catalog([p])) > 20


def test_every_key_of_every_shipped_stack_file_misspelt_is_an_error_naming_it_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_every_misspelling(STACKS, tmp_path, load_config) > 40

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started for a bad stack file: {args}")

    monkeypatch.setattr(deploy.processes, "spawn", no_process)
    monkeypatch.setattr(deploy.stack, "spawn", no_process)
    for path, text, line, wrong in cases(STACKS):
        bad = tmp_path / path.name
        bad.write_text(text, encoding="utf-8")
        logs = tmp_path / "logs"
        assert main(["up", "--config", str(bad), "--port", "0", "--log-dir", str(logs)]) == 2
        error = capsys.readouterr().err
        assert f"{bad}:{line}: " in error and wrong in error and "Traceback" not in error
        assert not logs.exists()


def test_a_misspelt_stack_file_is_exit_2_with_the_suggestion_and_no_traceback(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "stack.yaml"
    bad.write_text(STACKS[0].read_text().replace("queue_capacity: 8", "queue_capacty: 8"))
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", "up", "--config", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown key `queue_capacty`; did you mean `queue_capacity`?" in done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stdout

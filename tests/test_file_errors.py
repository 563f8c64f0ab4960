"""A bad value in a file a user writes reads as a sentence: no validator internals, the field as
the file spells it, its line, and what would have been accepted."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fleetsim.scenario import load_scenario, parse_scenario
from npu_sim.datafile import DataFileError, check
from tests.conftest import REPO

TINY = REPO / "scenarios" / "tiny.yaml"
DATA = yaml.safe_load(TINY.read_text())
NODE = yaml.compose(TINY.read_text())
#: What pydantic says that a user should never read.
INTERNALS = re.compile(
    r"Input should|Value error|Field required|constrained-|function-|\[key\]|Input tag|"
    r"found using|dataclass|Tokens|Poisson|Trace\b|errors\.pydantic"
)


def problems(change: dict[tuple[Any, ...], Any]) -> str:
    """The error message of tiny.yaml with each (path: value) set; "" if it is valid."""
    data = copy.deepcopy(DATA)
    for path, value in change.items():
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    try:
        parse_scenario(data, Path("tiny.yaml"), NODE)
    except DataFileError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {("workload", "mix", 0, "prompt_tokens"): 0},
            "tiny.yaml:32: workload.mix.0.prompt_tokens: must be a whole number >= 1, got 0",
        ),
        (
            {("workload", "mix", 0, "prompt_tokens"): "many"},
            "workload.mix.0.prompt_tokens: must be a whole number or a mapping (key: value), "
            "got 'many'",
        ),
        (
            {("workload", "mix", 0, "prompt_tokens"): {"constant": 0}},
            "workload.mix.0.prompt_tokens.constant: must be a whole number >= 1, got 0",
        ),
        (
            {("workload", "mix", 0, "prompt_tokens"): {"uniform": [9, 1]}},
            "workload.mix.0.prompt_tokens: uniform: low must not exceed high",
        ),
        (
            {("workload", "kind"): "poison"},
            "tiny.yaml:27: workload.kind: unknown workload kind 'poison'; valid: poisson, trace",
        ),
        (
            {("workload", "rate_per_s"): -1},
            "tiny.yaml:28: workload.rate_per_s: must be a number > 0, got -1",
        ),
        (
            {("topology", "dev", "nodes"): 1.5},
            "tiny.yaml:11: topology.dev.nodes: must be a whole number, got 1.5",
        ),
        (
            {("topology", "dev", "tier"): "fog"},
            "topology.dev.tier: must be one of 'device', 'edge' or 'cloud', got 'fog'",
        ),
        ({("policies",): []}, "policies: must have at least 1 entry, got 0"),
        ({("seed",): -1}, "tiny.yaml:6: seed: must be a whole number >= 0, got -1"),
        (
            {("topology",): {"a b": DATA["topology"]["dev"]}},
            "topology.a b: 'a b' must be 1-63 letters, digits, '.', '_' or '-'",
        ),
        ({("network",): {"fog": {}}}, "network.fog: unknown key `fog`; valid keys: cloud, edge"),
        (
            {("slo_s",): {"qwen": 1}},
            "slo_s.qwen: 'qwen' is neither a model id nor a task",
        ),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_field_and_what_it_must_be(
    change: dict[tuple[Any, ...], Any], expected: str
) -> None:
    message = problems(change)
    assert expected in message
    assert not INTERNALS.search(message), message


def test_a_missing_kind_lists_the_kinds() -> None:
    data = copy.deepcopy(DATA)
    del data["workload"]["kind"]
    with pytest.raises(DataFileError) as caught:
        parse_scenario(data, Path("tiny.yaml"), NODE)
    assert "tiny.yaml:27: workload.kind: required, but not given: one of poisson, trace" in str(
        caught.value
    )


def test_a_single_value_check_says_what_it_must_be() -> None:
    with pytest.raises(ValueError, match=r"^must be a number, got 'high'$"):
        check(float, "high")
    assert check(float, 0.3) == 0.3


JUNK = st.one_of(
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-1, 2), max_size=3),
    st.dictionaries(st.sampled_from(["constant", "uniform", "x", "kind"]), st.integers(-1, 2)),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in [(*path, k), *_paths(v, (*path, k))]]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in [(*path, i), *_paths(v, (*path, i))]]
    return []


PATHS = _paths(DATA)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(PATHS), JUNK, min_size=1, max_size=3))
def test_any_junk_anywhere_reads_as_sentences_with_file_line_and_field(
    change: dict[tuple[Any, ...], Any],
) -> None:
    paths = sorted(change, key=len)
    # a value replaced twice (a path and one inside it) is one change: keep the outermost
    assume(not any(p[: len(q)] == q for i, p in enumerate(paths) for q in paths[:i]))
    message = problems(change)
    assume(message)
    assert not INTERNALS.search(message), message
    for line in message.splitlines():
        assert line.startswith("tiny.yaml"), line
        assert ": " in line and not line.rstrip().endswith(":"), line


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    text = TINY.read_text().replace(
        "    queue_capacity: 2\n", "    queue_capacity: 2\n    nodes: 9\n"
    )
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:13: key `nodes` is given twice (first on line 11)"

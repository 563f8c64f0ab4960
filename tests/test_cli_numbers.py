"""Every number the command line takes is checked before anything is sent or started: out of
range is exit status 2 naming the option and what it must be, never a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from edgetier.argtypes import Number
from edgetier.cli import build_parser, main
from tests.conftest import REPO

Option = tuple[tuple[str, ...], argparse.Action]


def options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Option]:
    """(subcommand path, action) for every option of every subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, (*path, name))
        elif action.option_strings:
            yield path, action


ALL = list(options(build_parser()))
NUMBERS = [(path, action) for path, action in ALL if isinstance(action.type, Number)]


def _name(option: Option) -> str:
    path, action = option
    return " ".join([*path, action.option_strings[-1]])


def bad_values(number: Number) -> list[str]:
    """Values `number` must refuse: not a number, not finite, a fraction, out of its range."""
    values = ["x", "nan", "inf", "1.5" if number.whole else "1e999"]
    if number.low is not None:
        below = number.low if number.above_low else number.low - 1
        values.append(f"{below:g}")
    if number.high is not None:
        values.append(f"{number.high + 1:.0f}")
    return values


def test_every_option_that_takes_a_number_uses_a_checked_type() -> None:
    unchecked = [
        _name(option)
        for option in ALL
        if option[1].type in (int, float)
        or (
            isinstance(option[1].default, int | float)
            and not isinstance(option[1].default, bool)
            and not isinstance(option[1].type, Number)
            and option[1].nargs != 0
        )
    ]
    assert not unchecked
    assert len(NUMBERS) > 40  # every subcommand's and every benchmark's


@pytest.mark.parametrize("option", NUMBERS, ids=_name)
def test_a_number_out_of_range_is_exit_2_naming_the_option(
    option: Option, capsys: pytest.CaptureFixture[str]
) -> None:
    path, action = option
    assert isinstance(action.type, Number)
    for value in bad_values(action.type):
        with pytest.raises(SystemExit) as caught:
            main([*path, action.option_strings[-1], value])
        error = capsys.readouterr().err
        assert caught.value.code == 2, (value, error)
        assert f"argument {'/'.join(action.option_strings)}: must be {action.type.rule}" in error
        assert "Traceback" not in error


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["infer", "--model", "qwen2.5-0.5b", "--prompt-tokens", "-5"],
            "argument --prompt-tokens: must be a whole number from 1 to 4294967295, got -5",
        ),
        (
            ["infer", "--model", "qwen2.5-0.5b", "--prompt", "hi", "--max-tokens", "0"],
            "argument --max-tokens: must be a whole number from 1 to 32768, got 0",
        ),
        (
            ["infer", "--model", "qwen2.5-0.5b", "--prompt", "hi", "--slo-ms", "-1"],
            "argument --slo-ms: must be a number > 0, got -1",
        ),
        (
            ["sim", "run", "scenarios/tiny.yaml", "--seed", "-1"],
            "argument --seed: must be a whole number >= 0, got -1",
        ),
        (
            ["agent", "--slowdown", "edge-0=0.5"],
            "argument --slowdown: must be a number >= 1, got 0.5",
        ),
    ],
)
def test_the_reported_cases_end_before_anything_connects_or_runs(
    argv: list[str], expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetier", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr

"""The orchestrator's network and extra-policy options: `--link` and `--load-policy`, checked
before anything binds, in the same words as a scenario's `network:` and `policies:`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routing.network import LinkOverride, link_text, parse_link, with_overrides


def orchestrator(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgetier", "orchestrator", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_link_text_and_parse_link_round_trip_and_override_only_the_given_fields() -> None:
    override = LinkOverride(rtt_s=0.25, joules_per_byte=1e-6)
    assert parse_link(link_text("edge", override)) == ("edge", override)
    network = with_overrides({"edge": override})
    assert network.links["edge"].rtt_s == 0.25
    assert (
        network.links["edge"].bandwidth_mbit_s == with_overrides({}).links["edge"].bandwidth_mbit_s
    )
    assert network.links["cloud"] == with_overrides({}).links["cloud"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--link", "edge"), "argument --link: 'edge': expected edge:FIELD=VALUE"),
        (("--link", "fog:rtt_s=1"), "argument --link: 'fog:rtt_s=1'"),
        (("--link", "edge:rtt=1"), "'rtt=1' is not FIELD=VALUE"),
        (("--link", "cloud:rtt_s=-1"), "rtt_s: Input should be greater than or equal to 0"),
        (("--link", "edge:rtt_s=1", "--link", "edge:rtt_s=2"), "--link: give each tier once"),
        (("--load-policy", "nope"), "--load-policy nope: unknown policy 'nope'"),
        (
            ("--load-policy", "{name: cascade, options: {threshold: high}}"),
            "option threshold='high'",
        ),
    ],
)
def test_bad_link_or_extra_policy_is_one_line_naming_the_flag_exit_2(
    flags: tuple[str, ...], named: str
) -> None:
    result = orchestrator(*flags)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert '"listening"' not in result.stdout  # nothing bound

"""The command-line face of policy specs: `--policy NAME|module:Class` (or `--policies a,b`)
and `--policy-option [POLICY.]KEY=VALUE`, turned into checked `routing.specs.PolicySpec`s."""

from __future__ import annotations

import argparse

from routing.policies import BUILTINS, DEFAULT_POLICY
from routing.specs import PolicySpec, unique_labels, with_cli_options

OPTION_HELP = (
    "an option of the policy's constructor, e.g. threshold=0.7 (repeatable); with several "
    "policies, say which: cascade.threshold=0.7"
)


def add_policy_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """`--policy` (one policy) and `--policy-option`."""
    parser.add_argument(
        "--policy",
        default=default or DEFAULT_POLICY,
        metavar="POLICY",
        help=f"routing policy: a built-in ({', '.join(BUILTINS)}) or a Policy subclass on the "
        f"Python path as package.module:Class (default {default or DEFAULT_POLICY})",
    )
    add_option_argument(parser)


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy-option",
        action="append",
        default=[],
        metavar="[POLICY.]KEY=VALUE",
        help=OPTION_HELP,
    )


def policy_from_args(args: argparse.Namespace) -> PolicySpec:
    """The one policy of `--policy` with its `--policy-option`s (raises PolicyError)."""
    return with_cli_options([PolicySpec(args.policy)], args.policy_option)[0]


def policies_from_text(text: str, options: list[str]) -> list[PolicySpec]:
    """`--policies a,b,module:Class` with `--policy-option`s (raises PolicyError)."""
    refs = [ref.strip() for ref in text.split(",") if ref.strip()]
    return unique_labels(with_cli_options([PolicySpec(ref) for ref in refs], options))

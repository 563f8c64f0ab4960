"""`edgetier router train SCENARIO --out FILE`: fit the learned router on a scenario's traffic.

    edgetier router train scenarios/mixed-tasks.yaml --out router.json [--target-quality 0.95]
        [--seeds 5] [--catalog FILE]

Writes the router file (routing.router_model: JSON, versioned) that the `learned-router` and
`random-substitution` policies load through their `model_file` option, in simulation
(`--policy-option model_file=router.json`, or `options: {model_file: ...}` in a scenario) and
live (`edgetier up --policy learned-router --policy-option model_file=router.json`). Training
uses seeds other than the scenario's (fleetsim.router_training), so a `sim run` of that
scenario evaluates the router on requests it has not seen. A bad scenario or option exits with
status 2 and a message naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgetier.argtypes import Number, positive_int
from edgetier.cli.catalogs import add_catalog_argument
from edgetier.cli.output import console, print_json
from fleetsim.router_training import DEFAULT_TARGET, TRAINING_SEEDS, train, training_seeds
from fleetsim.scenario import load_scenario
from fleetsim.workload.trace import TraceError
from npu_sim.datafile import DataFileError

UNUSED_POLICIES = {"policies": ["cloud-only"]}


#: A share of the requested models' quality: above 0, at most 1.
_fraction = Number(whole=False, low=0, high=1, above_low=True)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("router", help="train the learned router on a scenario")
    sub = parser.add_subparsers(dest="router_command", required=True, metavar="COMMAND")
    learn = sub.add_parser("train", help="fit the learned router on a scenario's traffic")
    learn.add_argument("scenario", type=Path, help="scenario YAML file (see scenarios/)")
    learn.add_argument("--out", type=Path, required=True, help="router file to write (JSON)")
    learn.add_argument(
        "--target-quality",
        type=_fraction,
        default=DEFAULT_TARGET,
        help="the router's default target_quality: the share of the requested models' "
        f"quality it keeps, predicted (default {DEFAULT_TARGET})",
    )
    learn.add_argument(
        "--seeds",
        type=positive_int,
        default=TRAINING_SEEDS,
        help=f"training seeds, from the scenario's seed + 1000 (default {TRAINING_SEEDS})",
    )
    add_catalog_argument(learn)
    learn.add_argument("--json", action="store_true", help="print what was trained as JSON")
    learn.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    try:
        # Training reads the fleet and the workload, not the policies, which are left unbuilt:
        # a router file they name may be the very one this run writes.
        scenario = load_scenario(args.scenario, UNUSED_POLICIES, extra_catalogs=args.catalog)
        model = train(scenario, training_seeds(scenario, args.seeds), args.target_quality, args.out)
    except (DataFileError, TraceError, ValueError, OSError) as exc:
        print(f"edgetier router train: {exc}", file=sys.stderr)
        return 2
    summary = {
        "out": str(args.out),
        "models": list(model.models),
        "joules_per_correct_answer": model.joules_per_correct_answer,
        **dict(model.trained_on),
    }
    if args.json:
        print_json(summary)
        return 0
    console.print(
        f"trained on {summary['requests']} LLM requests of {scenario.name} (seeds "
        f"{', '.join(map(str, summary['seeds']))}): {len(model.models)} models; target "
        f"quality {model.target_quality:g} (aimed {model.optimism:+.4f} higher), starting at "
        f"{model.joules_per_correct_answer:g} J per right answer; a trial run with seed "
        f"{summary['trial_seed']} kept {summary['trial_quality']:g} substituting "
        f"{model.substitution_rate:.1%}. Wrote {args.out}"
    )
    return 0

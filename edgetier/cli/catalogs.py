"""`--catalog FILE` (repeatable), the same on every command that uses the catalog: the user's
own chips and models, in the schema of npu_sim's shipped data files, beside the shipped ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from npu_sim.datafile import DataFileError
from npu_sim.predictor import Predictor, load_predictor

HELP = (
    "a catalog file of your own chips and models (`hardware:` and/or `models:`, in the schema "
    "of the shipped npu_sim/data files); repeatable"
)


def add_catalog_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog", action="append", type=Path, default=[], metavar="FILE", help=HELP
    )
    parser.set_defaults(parser=parser)


def predictor_from_args(args: argparse.Namespace) -> Predictor:
    """The shipped catalog plus the --catalog files; a bad file exits 2 naming file and line."""
    try:
        return load_predictor(args.catalog)
    except DataFileError as exc:
        args.parser.error(f"argument --catalog: {exc}")

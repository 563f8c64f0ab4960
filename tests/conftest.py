"""Shared fixtures: where the repository and ../shared are, and the shipped predictor.

Under CI (CI set in the environment) hypothesis runs derandomized: the same examples every run,
so a red CI is a regression, not a roll of the dice. Locally it explores new examples each run
(and remembers failures in .hypothesis/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from npu_sim.predictor import Predictor, default_predictor

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    return default_predictor()

"""Shared fixtures: where the repository and ../shared are, and the shipped predictor."""

from __future__ import annotations

from pathlib import Path

import pytest

from npu_sim.predictor import Predictor, default_predictor

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    return default_predictor()

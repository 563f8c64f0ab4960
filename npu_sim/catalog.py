"""The catalogs (hardware, models, precisions), loaded from the YAML files shipped in `data/`.

Lookups by id fail with `UnknownNameError`, which lists the valid ids: users type these names on the
command line and in scenario files, and the list is the most useful answer to a typo.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from npu_sim import datafile
from npu_sim.hardware import Hardware, Precision
from npu_sim.models import LLM, Model, VisionModel

DATA_DIR = Path(__file__).parent / "data"
T = TypeVar("T")


class UnknownNameError(KeyError):
    """An id that is in no catalog; `kind` is "hardware", "model" or "precision"."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(name)
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; valid: {', '.join(self.valid)}"


@dataclass(frozen=True)
class _ModelFile:
    llm: dict[str, LLM]
    vision: dict[str, VisionModel]


@dataclass(frozen=True)
class Catalog:
    """All hardware, models and precisions, each keyed by its id."""

    hardware_by_id: dict[str, Hardware]
    models_by_id: dict[str, Model]
    precisions_by_id: dict[str, Precision]

    def hardware(self, name: str) -> Hardware:
        return _lookup("hardware", self.hardware_by_id, name)

    def model(self, name: str) -> Model:
        return _lookup("model", self.models_by_id, name)

    def precision(self, name: str) -> Precision:
        return _lookup("precision", self.precisions_by_id, name)


def _lookup(kind: str, table: dict[str, T], name: str) -> T:
    try:
        return table[name]
    except KeyError:
        raise UnknownNameError(kind, name, sorted(table)) from None


def _with_ids(table: dict[str, T]) -> dict[str, T]:
    return {
        key: dataclasses.replace(value, **{_id_field(value): key}) for key, value in table.items()
    }


def _id_field(record: object) -> str:
    return "name" if isinstance(record, Precision) else "id"


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """Load and validate the three catalog files of `data_dir`."""
    hardware = datafile.load(data_dir / "hardware.yaml", dict[str, Hardware])
    models = datafile.load(data_dir / "models.yaml", _ModelFile)
    precisions = datafile.load(data_dir / "precisions.yaml", dict[str, Precision])
    clash = set(models.llm) & set(models.vision)
    if clash:
        raise datafile.DataFileError(
            f"{data_dir / 'models.yaml'}: ids both an LLM and a vision model: {sorted(clash)}"
        )
    return Catalog(
        hardware_by_id=_with_ids(hardware),
        models_by_id={**_with_ids(models.llm), **_with_ids(models.vision)},
        precisions_by_id=_with_ids(precisions),
    )


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return load_catalog()

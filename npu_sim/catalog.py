"""The catalogs (hardware, models, precisions): the YAML files shipped in `data/`, plus the files
users bring.

A user adds the chip they have, or a model, with a YAML file holding a `hardware:` mapping in the
schema of `data/hardware.yaml` and/or a `models:` mapping in that of `data/models.yaml`
(`load_catalog([Path("my-npu.yaml")])`). Such a file cannot redefine an id (a shipped one or one
of another file): a prediction must never silently change meaning because a file was added.
Every problem names the file, line and field.

Lookups by id fail with `UnknownNameError`, which lists the valid ids: users type these names on the
command line and in scenario files, and the list is the most useful answer to a typo.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from npu_sim import datafile
from npu_sim.datafile import STRICT
from npu_sim.families import load_families
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


@STRICT
@dataclass(frozen=True)
class _ModelFile:
    llm: dict[str, LLM] = field(default_factory=dict)
    vision: dict[str, VisionModel] = field(default_factory=dict)


@STRICT
@dataclass(frozen=True)
class _UserFile:
    """A catalog file a user brings: chips and/or models, nothing else."""

    hardware: dict[str, Hardware] = field(default_factory=dict)
    models: _ModelFile = field(default_factory=_ModelFile)


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


class _Builder:
    """Accumulates catalog files in order, remembering which file defined each id, so a clash
    names both files."""

    def __init__(self) -> None:
        self.hardware: dict[str, Hardware] = {}
        self.models: dict[str, Model] = {}
        self.defined_in: dict[tuple[str, str], Path] = {}
        self.families = load_families()

    def add(
        self,
        path: Path,
        node: yaml.Node | None,
        hardware: dict[str, Hardware],
        models: _ModelFile,
        user_file: bool = False,
    ) -> None:
        """Add one file's entries: in a shipped file the entries are the whole file, in a user
        file they sit under `hardware:` and `models:` (which the error locations follow)."""
        hw_at: tuple[str, ...] = ("hardware",) if user_file else ()
        model_at: tuple[str, ...] = ("models",) if user_file else ()
        problems: list[tuple[tuple[int | str, ...], str]] = []
        for name, hw in hardware.items():
            if hw.family not in self.families:
                valid = ", ".join(sorted(self.families))
                message = f"unknown family {hw.family!r}; valid: {valid}"
                problems.append(((*hw_at, name, "family"), message))
        entries: list[tuple[str, tuple[str, ...], Iterable[str]]] = [
            ("hardware", hw_at, hardware),
            ("model", (*model_at, "llm"), models.llm),
            ("model", (*model_at, "vision"), models.vision),
        ]
        for kind, where, names in entries:
            for name in names:
                earlier = self.defined_in.get((kind, name))
                if earlier is not None:
                    problems.append(((*where, name), f"{kind} id {name!r} is already in {earlier}"))
                self.defined_in[(kind, name)] = path
        if problems:
            raise datafile.errors_at(path, node, problems)
        self.hardware.update(_with_ids(hardware))
        self.models.update({**_with_ids(models.llm), **_with_ids(models.vision)})


def load_catalog(extra_files: Sequence[Path] = (), data_dir: Path = DATA_DIR) -> Catalog:
    """The catalog of `data_dir` (the shipped one by default) plus each of `extra_files`.

    An extra file holds `hardware:` and/or `models:` in the shipped files' schemas. An id that
    is already defined, an unknown family, key or field, or a bad value raises
    `datafile.DataFileError` naming the file, line and field.
    """
    builder = _Builder()
    path = data_dir / "hardware.yaml"
    data, node = datafile.parse_yaml(path)
    builder.add(path, node, datafile.validate(path, data, node, dict[str, Hardware]), _ModelFile())
    path = data_dir / "models.yaml"
    data, node = datafile.parse_yaml(path)
    builder.add(path, node, {}, datafile.validate(path, data, node, _ModelFile))
    precisions = datafile.load(data_dir / "precisions.yaml", dict[str, Precision])
    for path in extra_files:
        data, node = datafile.parse_yaml(path)
        user: _UserFile = datafile.validate(path, _mapping(data), node, _UserFile)
        builder.add(path, node, user.hardware, user.models, user_file=True)
    return Catalog(builder.hardware, builder.models, _with_ids(precisions))


def _mapping(data: Any) -> Any:
    """An empty file is an empty catalog file (pydantic would call None "not a mapping")."""
    return {} if data is None else data


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return load_catalog()

"""`--param PATH=VALUE`: a dotted path of a scenario file set to a value before validation.

A path is walked through the file's data and its schema together, so a path that names nothing
is an error naming the path and the keys valid at the level where it went wrong
(`topology.dev.nodez`: "did you mean `nodes`?"), never a new key that the schema then ignores
or a half-written entry that fails with "tier: required". What a path may create is what the
schema allows the file to hold: a field of a record (`network`, `duration_s`), a key of a closed
set (`network.cloud`), a new entry of a mapping of plain values (`slo_s.qwen2.5-0.5b`); an
entry of a mapping of records whose keys a user chooses (a topology group) must already exist.

Keys may contain dots (model ids such as qwen2.5-0.5b): at a mapping, the longest existing key
that begins the rest of the path wins, and a rest that is a model id is one key.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Collection
from typing import Any

from npu_sim.catalog import default_catalog
from npu_sim.schema_errors import file_fields, members, unknown_key_message


class OverrideError(ValueError):
    """A `--param` path that names nothing in the scenario, in words."""


def apply(data: Any, overrides: dict[str, Any], schema: Any) -> Any:
    """A deep copy of `data` (a file of type `schema`) with each dotted path set."""
    data = copy.deepcopy(data)
    for path, value in overrides.items():
        _set(data, path, value, schema, path, "")
    return data


def _set(data: Any, rest: str, value: Any, schema: Any, path: str, where: str) -> None:
    """Set `rest` (the part of `path` below `where`) inside `data`, of type `schema`."""
    kinds = [m for m in members(schema) if m is not type(None)]
    records = [m for m in kinds if dataclasses.is_dataclass(m)]
    mappings = [m for m in kinds if typing.get_origin(m) is dict]
    lists = [m for m in kinds if typing.get_origin(m) is list]
    if records and isinstance(data, dict):
        fields = {key: hint for m in records for key, hint in file_fields(m).items()}
        key, _, deeper = rest.partition(".")
        if key not in fields:
            raise _nothing(path, where, key, fields)
        child = fields[key]
    elif mappings and isinstance(data, dict):
        key_type, child = typing.get_args(mappings[0])
        key, deeper = _mapping_key(data, rest, key_type, child, path, where)
    elif lists and isinstance(data, list):
        key_text, _, deeper = rest.partition(".")
        if not key_text.isdigit() or int(key_text) >= len(data):
            raise _nothing(path, where, key_text, [str(i) for i in range(len(data))])
        key, child = int(key_text), typing.get_args(lists[0])[0]
    else:
        raise OverrideError(f"--param {path}: {where or 'the file'} holds a value, not keys")
    if not deeper:
        data[key] = value
        return
    inner = data[key] if isinstance(key, int) or key in data else None
    if inner is None:
        inner = data[key] = {}
    _set(inner, deeper, value, child, path, f"{where}.{key}" if where else str(key))


def _mapping_key(
    data: dict[str, Any], rest: str, key_type: Any, value_type: Any, path: str, where: str
) -> tuple[str, str]:
    """(key, what is left of the path) at a mapping: an existing key, a model id, a key of a
    closed set, or a new key where the values are plain (the schema checks the key itself)."""
    existing = sorted((k for k in data if isinstance(k, str)), key=len, reverse=True)
    for key in existing:
        if rest == key or rest.startswith(key + "."):
            return key, rest[len(key) + 1 :]
    if rest in default_catalog().models_by_id:
        return rest, ""
    key, _, deeper = rest.partition(".")
    closed = [str(k) for m in members(key_type) for k in typing.get_args(m)]  # Literal keys
    if closed:
        if key not in closed:
            raise _nothing(path, where, key, closed)
        return key, deeper
    if any(dataclasses.is_dataclass(m) for m in members(value_type)):
        raise _nothing(path, where, key, existing)  # a name the file chooses: it must exist
    return key, deeper


def _nothing(path: str, where: str, key: str, valid: Collection[str]) -> OverrideError:
    problem = unknown_key_message(key, valid, list_valid=True)
    return OverrideError(f"--param {path}: at {where or 'the top level'}: {problem}")

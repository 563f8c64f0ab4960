"""Load a YAML data file into typed dataclasses, with errors that name the file, field and line.

Catalogs and scenarios are edited by hand; a typo must produce "models.yaml:41: llm.qwen2-0.5b.
layers: Input should be a valid integer", not a traceback. pydantic validates the plain
dataclasses of the core (it knows their field types), and the YAML node tree gives the line.
A dataclass that forbids unknown keys (`STRICT`) gets "unknown key `memroy_gib`; did you mean
`memory_gib`?", the suggestion read from the schema at that place in the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydantic
import yaml

#: Decorator for the dataclasses of files users write: an unknown key is an error, not ignored.
STRICT = pydantic.with_config(pydantic.ConfigDict(extra="forbid"))
_UNKNOWN_KEY = {"unexpected_keyword_argument", "extra_forbidden"}


class DataFileError(ValueError):
    """A data file is missing, is not valid YAML, or does not match its schema."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node on the error's path (pydantic's `loc`)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(key)), None)
            if found is None:
                continue  # not in the file: a missing field, or a tagged union's tag
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Read a YAML file; returns its data and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path}: not valid YAML: {exc}") from exc


def errors_at(
    path: Path, node: yaml.Node | None, problems: Iterable[tuple[tuple[int | str, ...], str]]
) -> DataFileError:
    """One error listing `problems` (pydantic-style location, message), each with its file and
    line: checks that span fields (a name defined elsewhere in the file) read like schema errors."""
    messages = []
    for loc, message in problems:
        field = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(node, loc)
        where = f"{path}:{line}" if line else str(path)
        messages.append(f"{where}: {field}: {message}")
    return DataFileError("\n".join(messages))


def _child(schema: Any, key: int | str) -> Any:
    """The type found at `key` inside a value of type `schema`, or None."""
    origin, args = typing.get_origin(schema), typing.get_args(schema)
    if origin is typing.Annotated:
        return _child(args[0], key)
    if origin in (typing.Union, types.UnionType):
        return next((c for c in (_child(a, key) for a in args) if c is not None), None)
    if origin is dict:
        return args[1]
    if origin in (list, tuple):
        return args[0]
    if dataclasses.is_dataclass(schema):
        return typing.get_type_hints(schema, include_extras=True).get(str(key))
    return None


def _keys_at(schema: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys the mapping at `loc` may hold (its dataclass's fields), walking `schema`."""
    for key in loc:
        schema = _child(schema, key)
    origin = typing.get_origin(schema)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType):
        return sorted({k for a in typing.get_args(schema) for k in _keys_at(a, ())})
    if dataclasses.is_dataclass(schema):
        return [f.name for f in dataclasses.fields(schema) if f.init]
    return []


def unknown_key_message(key: str, valid: Iterable[str]) -> str:
    """ "unknown key `x`; did you mean `y`?" (or the valid keys when none is close)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return f"unknown key `{key}`; did you mean `{close[0]}`?"
    return f"unknown key `{key}`; valid keys: {', '.join(valid)}"


def _message(schema: Any, error: Any) -> str:
    if error["type"] in _UNKNOWN_KEY:
        loc = tuple(error["loc"])
        return unknown_key_message(str(loc[-1]), _keys_at(schema, loc[:-1]))
    return error["msg"]


def validate(path: Path, data: Any, node: yaml.Node | None, schema: Any) -> Any:
    """Validate `data` against `schema` (a type pydantic understands); errors name file and line."""
    try:
        return pydantic.TypeAdapter(schema).validate_python(data)
    except pydantic.ValidationError as exc:
        problems = [(err["loc"], _message(schema, err)) for err in exc.errors()]
        raise errors_at(path, node, problems) from None


def load(path: Path, schema: Any) -> Any:
    """Parse and validate one YAML file."""
    data, node = parse_yaml(path)
    return validate(path, data, node, schema)

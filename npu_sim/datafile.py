"""Load a YAML data file into typed dataclasses, with errors that name the file, field and line.

Catalogs, scenarios and stack files are edited by hand; a typo must produce "models.yaml:41:
llm.qwen2-0.5b.layers: must be a whole number, got 'x'", not a traceback. pydantic validates the
plain dataclasses of the core (it knows their field types), `npu_sim.schema_errors` says what
went wrong in words, and the YAML node tree gives the line. Every dataclass a user writes is
`STRICT`: an unknown key is an error ("unknown key `memroy_gib`; did you mean `memory_gib`?"),
never a default silently kept; its attribute docstrings are the descriptions of the JSON Schema
that editors complete and check files with (`json_schema`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydantic
import yaml

from npu_sim import schema_errors

#: Decorator for the dataclasses of files users write: an unknown key is an error, not ignored;
#: a field's docstring (a string right below it) describes it in the JSON Schema.
STRICT = pydantic.with_config(pydantic.ConfigDict(extra="forbid", use_attribute_docstrings=True))


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


def validate(path: Path, data: Any, node: yaml.Node | None, schema: Any) -> Any:
    """Validate `data` against `schema` (a type pydantic understands); errors name file and line."""
    try:
        return pydantic.TypeAdapter(schema).validate_python(data)
    except pydantic.ValidationError as exc:
        raise errors_at(path, node, schema_errors.problems(exc, data, schema)) from None


def load(path: Path, schema: Any) -> Any:
    """Parse and validate one YAML file."""
    data, node = parse_yaml(path)
    return validate(path, data, node, schema)


def check(schema: Any, value: Any) -> Any:
    """`value` validated as `schema` (a single value, not a file: a policy option, say);
    ValueError saying what is wrong, in words."""
    try:
        return pydantic.TypeAdapter(schema).validate_python(value)
    except pydantic.ValidationError as exc:
        raise ValueError(schema_errors.message(exc, value, schema)) from None


def json_schema(schema: Any) -> dict[str, Any]:
    """The JSON Schema of files of type `schema` (draft 2020-12), from the same dataclasses
    that validate them, their field docstrings as descriptions."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **pydantic.TypeAdapter(schema).json_schema(mode="validation"),
    }

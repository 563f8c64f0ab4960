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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pydantic
import yaml
from pydantic.json_schema import SkipJsonSchema

from npu_sim import schema_errors

#: Decorator for the dataclasses of files users write: an unknown key is an error, not ignored;
#: a field's docstring (a string right below it) describes it in the JSON Schema.
STRICT = pydantic.with_config(pydantic.ConfigDict(extra="forbid", use_attribute_docstrings=True))


def _set_by_the_loader(value: Any) -> Any:
    raise ValueError("not a key of this file: EdgeTier sets it itself")


#: A field the loader fills in (an id from the key above the entry, the folder of the file):
#: a file that writes it gets an error, since its value would be replaced; not in the schema.
SetByLoader = Annotated[str, SkipJsonSchema(), pydantic.BeforeValidator(_set_by_the_loader)]


class DataFileError(ValueError):
    """A data file is missing, is not valid YAML, or does not match its schema."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest key (or list item) of the file on the error's path."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if found is None:
                break  # not in the file: a missing key (the line of its mapping says where)
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def parse_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Read a YAML file; returns its data and its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data, node = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path}: not valid YAML: {exc}") from exc
    twice = list(_repeated_keys(node))
    if twice:
        raise DataFileError("\n".join(f"{path}:{line}: {message}" for line, message in twice))
    return data, node


def _repeated_keys(node: yaml.Node | None) -> Iterator[tuple[int, str]]:
    """Keys written twice in one mapping (YAML would keep the last one without a word)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[object, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.value in first:
                yield line, f"key `{key.value}` is given twice (first on line {first[key.value]})"
            if isinstance(key, yaml.ScalarNode):
                first.setdefault(key.value, line)
            yield from _repeated_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _repeated_keys(item)


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

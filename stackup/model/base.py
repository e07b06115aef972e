"""The base every stack-file model derives from, and the annotated field types they share."""

from __future__ import annotations

import functools
import posixpath
import shlex
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from stackup.model.shortsyntax import scalar_text, split_key_value
from stackup.model.units import (
    DURATION_PATTERN,
    SIZE_PATTERN,
    format_duration,
    parse_duration,
    parse_size,
)


class Model(BaseModel):
    """Frozen, strict about unknown keys (a misspelt key is an error with a hint), and
    tolerant of `x-*` extension keys anywhere, as the Compose Specification requires."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            declared = _declared_keys(cls)
            return {
                k: v
                for k, v in data.items()
                if not (isinstance(k, str) and k.startswith("x-") and k not in declared)
            }
        return data


@functools.cache
def _declared_keys(cls: type[BaseModel]) -> frozenset[str]:
    """The keys a model declares (aliases first); once per class, not once per value."""
    return frozenset(f.alias or name for name, f in cls.model_fields.items())


def clean_target(value: Any) -> Any:
    """A container path cleaned as Compose (Go's path.Clean) cleans it: `/var/lib//data/` is
    `/var/lib/data`, so one mount point is one target. Windows paths (npipe) are left alone."""
    if not isinstance(value, str) or not value.startswith("/"):
        return value
    cleaned = posixpath.normpath(value)
    return "/" + cleaned.lstrip("/")


CleanTarget = Annotated[str, BeforeValidator(clean_target)]


def _str_list(value: Any) -> Any:
    """A single string where Compose allows a list of them (`dns: 8.8.8.8`)."""
    return [value] if isinstance(value, str) else value


MAX_COMMAND = 128 * 1024  # MAX_ARG_STRLEN of Linux: the longest single argument


def _command(value: Any) -> Any:
    """`command: nginx -g "daemon off;"` is split as a POSIX shell would, like Compose."""
    if isinstance(value, str):
        if len(value) > MAX_COMMAND:
            # shlex is quadratic on long words, and the kernel would refuse the command anyway.
            raise ValueError(f"a command is limited to {MAX_COMMAND} characters")
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split command into words: {exc}") from None
    if isinstance(value, list):
        # `command: [sleep, 10]`: Compose reads each word as a string, numbers included.
        return [scalar_text(v) if isinstance(v, int | float | bool) else v for v in value]
    return value


def _mapping(what: str) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return split_key_value(value, what)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                try:
                    out[key] = scalar_text(item)
                except ValueError as exc:
                    raise ValueError(f"{what} {key}: {exc}") from None
            return out
        return value

    return convert


def _strict_mapping(what: str) -> Any:
    """Like `_mapping`, but a key without a value becomes the empty string (labels)."""
    inner = _mapping(what)

    def convert(value: Any) -> Any:
        out = inner(value)
        if isinstance(out, dict):
            return {k: ("" if v is None else v) for k, v in out.items()}
        return out

    return convert


def _number_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Duration = Annotated[
    timedelta,
    BeforeValidator(
        parse_duration,
        json_schema_input_type=Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
        | int
        | float,
    ),
    PlainSerializer(format_duration, return_type=str),
]
ByteSize = Annotated[
    int,
    BeforeValidator(
        parse_size,
        json_schema_input_type=Annotated[str, StringConstraints(pattern=SIZE_PATTERN)] | int,
    ),
]
StrList = Annotated[list[str], BeforeValidator(_str_list, json_schema_input_type=str | list[str])]
Command = Annotated[
    list[str],
    BeforeValidator(_command, json_schema_input_type=str | list[str | int | float | bool]),
]
_Scalar = str | int | float | bool | None
EnvMapping = Annotated[
    dict[str, str | None],
    BeforeValidator(_mapping("environment"), json_schema_input_type=dict[str, _Scalar] | list[str]),
]
LabelMapping = Annotated[
    dict[str, str],
    BeforeValidator(
        _strict_mapping("label"), json_schema_input_type=dict[str, _Scalar] | list[str]
    ),
]
TextMapping = Annotated[
    dict[str, str],
    BeforeValidator(
        _strict_mapping("option"), json_schema_input_type=dict[str, _Scalar] | list[str]
    ),
]
NumberText = Annotated[str, BeforeValidator(_number_text, json_schema_input_type=str | int | float)]
PositiveInt = Annotated[int, Field(ge=0)]

"""pydantic's `ValidationError` turned into located, readable errors: every problem, in
document order, each at the offending value (or at the key, for an unknown key), with a dotted
path and a "did you mean" hint for misspelt keys."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from stackup.errors import PathElement, SpecValidationError, StackFileProblems, StackupError
from stackup.loading.source import SourceMap, located_error
from stackup.model.spec import Stack

_FRIENDLY_PATTERNS = {
    "restart": "a restart policy: no, always, unless-stopped, on-failure or on-failure:N",
    "pull_policy": "a pull policy: always, never, missing, build, refresh, daily, weekly or "
    "every_<N><unit>",
    "container_name": "a container name: letters, digits, _ . - and not starting with a symbol",
    "name": "a project name: lowercase letters, digits, _ and -, starting with a letter or digit",
    "published": "a port or a range of ports such as 8080 or 8080-8090",
    "rule": "a lint rule id such as SU004",
}
# The words a pattern-checked field takes, for a "did you mean" hint.
_PATTERN_CHOICES = {
    "restart": ("no", "always", "unless-stopped", "on-failure"),
    "pull_policy": ("always", "never", "missing", "build", "refresh", "daily", "weekly"),
}


def combine(found: Sequence[StackupError], file_order: Sequence[str] = ()) -> SpecValidationError:
    """Located errors sorted by file, line and column, one per dotted path, as one error."""
    order = {name: i for i, name in enumerate(file_order)}

    def key(error: StackupError) -> tuple[int, int, int]:
        if error.file is None:
            return (len(order) + 1, 0, 0)
        return (order.get(error.file, len(order)), error.line or 0, error.column or 0)

    unique: dict[tuple[str | None, str | None, str], StackupError] = {}
    for error in sorted(found, key=key):  # stable: equal marks keep the finder's order
        unique.setdefault((error.path, error.file, error.message), error)
    kept = list(unique.values())
    if len(kept) == 1 and isinstance(kept[0], SpecValidationError):
        return kept[0]
    return StackFileProblems(kept)


def problems(
    exc: ValidationError,
    data: Any,
    source: SourceMap,
    root: type[BaseModel],
    file_order: Sequence[str] = (),
) -> list[SpecValidationError]:
    """The errors of `exc`, one per place (by file, line and column), each located."""
    candidates = []
    order = {name: i for i, name in enumerate(file_order)}
    for number, error in enumerate(exc.errors(include_url=False)):
        path = _data_path(data, error["loc"])
        if error["type"] in ("value_error", "assertion_error"):
            path = _field_named_in_message(data, path, error["msg"], root)
        candidates.append((path, error, number))
    # One member of a union failing deep inside beats the other members failing at the top:
    # an error whose path is a strict prefix of another's says less about the same mistake.
    paths = {c[0] for c in candidates}
    specific = [c for c in candidates if not any(_strict_prefix(c[0], p) for p in paths)]
    ranked = []
    for path, error, number in specific or candidates:
        unknown = error["type"] == "extra_forbidden"
        mark = source.key(path) if unknown else source.value(path)
        key = (
            order.get(mark.file, len(order)) if mark else len(order) + 1,
            mark.line if mark else 0,
            mark.column if mark else 0,
            number,
        )
        ranked.append((key, path, mark, error))
    ranked.sort(key=lambda c: c[0])
    out: list[SpecValidationError] = []
    seen: set[tuple[PathElement, ...]] = set()
    for _, path, mark, error in ranked:
        # Union members failing at one place are one mistake: the first-ranked says it.
        if path in seen:
            continue
        seen.add(path)
        message, hint = _describe(error, path, root)
        out.append(located_error(mark, path, message, _indentation_hint(path, root) or hint))
    return out


def _indentation_hint(path: Sequence[PathElement], root: type[BaseModel]) -> str | None:
    """A service setting read as a service (`ports:` dedented to the services' level) or as a
    top-level key is a mistake of indentation, not of the setting: say so."""
    from stackup.model.spec import Service

    if root is not Stack:
        return None
    if len(path) >= 2 and path[0] == "services":
        key, where = path[1], "a service named"
    elif len(path) == 1:
        key, where = path[0], "a top-level key"
    else:
        return None
    if not isinstance(key, str) or key in Stack.model_fields:
        return None
    if not any((f.alias or n) == key for n, f in Service.model_fields.items()):
        return None
    return (
        f'"{key}" is a service setting but is read as {where} "{key}": '
        "check its indentation (it belongs under a service, one level deeper)"
    )


def _data_path(data: Any, loc: Sequence[int | str]) -> tuple[PathElement, ...]:
    """pydantic's `loc` with union-member and validator tags dropped, following the data."""
    path: list[PathElement] = []
    current = data
    for element in loc:
        if (isinstance(current, dict) and element in current) or (
            isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current)
        ):
            path.append(element)
            current = _child(current, element)
        elif (
            isinstance(current, dict)
            and isinstance(element, str)
            and element is loc[-1]
            and not _is_tag(element)
        ):
            path.append(element)  # a missing key
    return tuple(path)


def _strict_prefix(short: tuple[PathElement, ...], long: tuple[PathElement, ...]) -> bool:
    return len(short) < len(long) and long[: len(short)] == short


def _field_named_in_message(
    data: Any, path: tuple[PathElement, ...], msg: str, root: type[BaseModel]
) -> tuple[PathElement, ...]:
    """A model-level check that names one field ("test must start with ...") points at it."""
    text = msg.removeprefix("Value error, ")
    first = text.split(" ", 1)[0]
    model = model_at(root, path)
    target: Any = data
    for element in path:
        target = _child(target, element) if target is not None else None
    if model is None or not isinstance(target, dict) or first not in target:
        return path
    names = {f.alias or n for n, f in model.model_fields.items()}
    return (*path, first) if first in names else path


def _child(container: Any, element: Any) -> Any:
    return container[element]


def _is_tag(element: str) -> bool:
    return (
        "[" in element
        or element
        in (
            "str",
            "int",
            "float",
            "bool",
            "list",
            "dict",
            "none",
            "literal",
            "json-or-python",
        )
        or element.startswith(("function-", "lax-", "strict-", "is-instance", "tagged-union"))
    )


def _describe(
    error: Any, path: tuple[PathElement, ...], root: type[BaseModel]
) -> tuple[str, str | None]:
    kind: str = error["type"]
    value = error.get("input")
    field = next((p for p in reversed(path) if isinstance(p, str)), "")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        model = model_at(root, path[:-1])
        hint = None
        if model is not None:
            names = [f.alias or n for n, f in model.model_fields.items()]
            close = difflib.get_close_matches(str(path[-1]), names, n=1, cutoff=0.6)
            if close:
                hint = f'did you mean "{close[0]}"?'
        return f'unknown key "{path[-1]}"', hint
    if kind == "missing":
        return f'"{path[-1]}" is required', None
    if kind in ("value_error", "assertion_error"):
        msg: str = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        return msg, None
    if kind == "string_pattern_mismatch":
        expected = _FRIENDLY_PATTERNS.get(field, f"a value matching {ctx.get('pattern')}")
        hint = _did_you_mean(value, _PATTERN_CHOICES.get(field, ()))
        return f"invalid value {_show(value)}: expected {expected}", hint
    if kind in ("literal_error", "enum"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = _did_you_mean(value, choices)
        return f"invalid value {_show(value)}: expected {ctx.get('expected')}", hint
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_type":
        wanted = {
            "string_type": "a string",
            "int_type": "an integer",
            "int_parsing": "an integer",
            "int_from_float": "an integer",
            "float_type": "a number",
            "float_parsing": "a number",
            "bool_type": "true or false",
            "bool_parsing": "true or false",
            "list_type": "a list",
            "dict_type": "a mapping",
            "model_type": "a mapping",
            "model_attributes_type": "a mapping",
        }.get(
            kind, error["msg"].removeprefix("Input should be ").removeprefix("Input should be a ")
        )
        return f"expected {wanted}, got {_kind_of(value)} {_show(value)}".rstrip(), None
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return (
            f"invalid value {_show(value)}: {error['msg'].replace('Input should be', 'must be')}",
            None,
        )
    msg = error["msg"].replace("Input should be", "expected")
    return f"{msg}, got {_show(value)}", None


def _did_you_mean(value: Any, choices: Sequence[str]) -> str | None:
    """The choice closest to a misspelt `value`. Only the choice is quoted: the value may have
    come from a secret variable, and the error's own text is redacted when shown."""
    if not isinstance(value, str) or not choices:
        return None
    close = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return ""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f'"{text}"'
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def model_at(root: type[BaseModel], path: Sequence[PathElement]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, found by walking the fields."""
    current: Any = root
    for element in path:
        model = _unwrap_model(current)
        if model is not None and isinstance(element, str):
            field = next(
                (
                    f
                    for n, f in model.model_fields.items()
                    if (f.alias or n) == element or n == element
                ),
                None,
            )
            if field is None:
                return None
            current = field.annotation
            continue
        current = _item_type(current)
        if current is None:
            return None
    return _unwrap_model(current)


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin is typing.Union or isinstance(tp, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_members(arg))
        return out
    return [tp]


def _unwrap_model(tp: Any) -> type[BaseModel] | None:
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _item_type(tp: Any) -> Any:
    for member in _members(tp):
        origin = typing.get_origin(member)
        if origin in (list, tuple):
            return typing.get_args(member)[0]
        if origin is dict:
            return typing.get_args(member)[1]
    return None


def validate_stack(
    data: Any, source: SourceMap, file_order: list[str], deferred: list[SpecValidationError]
) -> Stack:
    """The stack's models, or every problem found (the short forms' ones deferred by the
    loader first), located and sorted."""
    from pydantic import ValidationError

    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        found = problems(exc, data, source, Stack, file_order)
        # A short form left as written fails the models again, at its list or at itself:
        # the reading of the short form already said why.
        found = [e for e in found if not any(_covers(e.path, d.path) for d in deferred)]
        found += _valid_services_problems(data, source, [*deferred, *found])
        raise combine([*deferred, *found], file_order) from None
    if deferred:  # a bad short form that a later file removed (!reset) still was bad
        raise combine(deferred, file_order)
    return stack


def _valid_services_problems(
    data: Any, source: SourceMap, found: list[SpecValidationError]
) -> list[SpecValidationError]:
    """The consistency checks and dangling references of the services that are valid on their
    own, when the stack as a whole is not: a mistake in one place does not hide the others."""
    from pydantic import ValidationError

    from stackup.loading.consistency import service_problems
    from stackup.loading.references import Declared, services_reference_problems
    from stackup.model.spec import Service

    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []

    def names(kind: str) -> set[str]:
        table = data.get(kind)
        return {k for k in table if isinstance(k, str)} if isinstance(table, dict) else set()

    # The references are checked against the names declared, whatever else is wrong there.
    declared = Declared(
        names("services"),
        names("networks") | {"default"},
        names("volumes"),
        names("secrets"),
        names("configs"),
    )
    out: list[SpecValidationError] = []
    for name, body in services.items():
        if not isinstance(name, str):
            continue
        wrong = _wrong_fields(f"services.{name}", found)
        if wrong is None:
            continue  # the service itself is not a mapping of fields
        body = body if body is not None else {}
        if wrong and isinstance(body, dict):
            # The fields already reported are left out; the rest can still be checked.
            body = {k: v for k, v in body.items() if k not in wrong}
        try:
            service = Service.model_validate(body)
        except ValidationError:
            continue
        if not wrong:
            out.extend(service_problems(name, service, services, source))
        out.extend(services_reference_problems(declared, {name: service}, source))
    return out


def _wrong_fields(prefix: str, found: list[SpecValidationError]) -> set[str] | None:
    """The fields below `prefix` that `found` reports, or None when `prefix` itself is."""
    out: set[str] = set()
    for error in found:
        if error.path is None or not _covers(prefix, error.path):
            continue
        rest = error.path[len(prefix) :]
        if not rest.startswith("."):
            return None
        out.add(re.split(r"[.\[]", rest[1:], maxsplit=1)[0])
    return out


def _covers(outer: str | None, inner: str | None) -> bool:
    """`services.web.ports` covers itself and `services.web.ports[1]`, not `...ports_x`."""
    if outer is None or inner is None:
        return False
    return inner == outer or inner.startswith((outer + ".", outer + "["))

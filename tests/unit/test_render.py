"""Renderers over hand-made plans: every action's symbol, the summary line, values, colour."""

from __future__ import annotations

from stackup.planning.plan import Action, FieldChange, Kind, Operation, Plan
from stackup.planning.render import render_markdown, render_text, summary_line


def _op(action: Action, name: str, **kw: object) -> Operation:
    return Operation(
        id=f"container:{name}",
        action=action,
        kind=Kind.CONTAINER,
        name=name,
        reason=f"because {name}",
        **kw,  # type: ignore[arg-type]
    )


def test_every_action_has_its_symbol() -> None:
    plan = Plan(
        project="p",
        operations=(
            _op(Action.CREATE, "a"),
            _op(Action.UPDATE, "b"),
            _op(Action.RECREATE, "c"),
            _op(Action.REMOVE, "d"),
            _op(Action.START, "e"),
            _op(Action.RELOAD, "f"),
        ),
    )
    lines = render_text(plan).splitlines()
    assert lines[2:8] == [
        "    + container a  (because a)",
        "    ~ container b  (because b)",
        "  -/+ container c  (because c)",
        "    - container d  (because d)",
        "    > container e  (because e)",
        "    ↻ container f  (because f)",
    ]
    assert lines[-1] == (
        "Plan: 1 to create, 1 to update, 1 to recreate, 1 to remove, 1 to start, 1 to reload."
    )


def test_summary_line_without_extras() -> None:
    assert summary_line(Plan(project="p")) == (
        "Plan: 0 to create, 0 to update, 0 to recreate, 0 to remove."
    )


def test_values_unset_strings_and_structures() -> None:
    op = _op(
        Action.RECREATE,
        "c",
        fields=(
            FieldChange("environment.NEW", None, "x"),
            FieldChange("ports", [{"target": 80}], []),
            FieldChange("read_only", False, True),
        ),
    )
    text = render_text(Plan(project="p", operations=(op,)))
    assert '        environment.NEW: (unset) → "x"' in text
    assert '        ports: [{"target": 80}] → []' in text
    assert "        read_only: false → true" in text


def test_warnings_and_blockers_come_first() -> None:
    plan = Plan(project="p", warnings=("w1",), blockers=("b1",))
    assert render_text(plan) == (
        "error: b1\nwarning: w1\n\nNo changes. Project p matches the stack file.\n"
    )
    md = render_markdown(plan)
    assert "**Blocking problems**\n\n- b1" in md
    assert "**Warnings**\n\n- w1" in md


def test_destroys_data_is_marked_in_text_and_colour() -> None:
    op = Operation(
        id="volume:v",
        action=Action.RECREATE,
        kind=Kind.VOLUME,
        name="v",
        reason="volume definition changed: its data will be deleted",
        destroys_data=True,
    )
    plan = Plan(project="p", operations=(op,))
    assert "        !! destroys data: the volume's content is deleted" in render_text(plan)
    assert "\x1b[31;1m" in render_text(plan, colour=True)

"""Every renderer escapes user strings for its format (stackup/escape.py), and the parsers and
caps that bound the work of hostile input (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from stackup.errors import StackFileError, StackupError
from stackup.escape import dot_string, markdown_code, markdown_text, mermaid_label, terminal
from stackup.loading.loader import LoadOptions, load
from stackup.planning.graph import build_graph, to_dot, to_mermaid
from stackup.planning.plan import Action, FieldChange, Kind, Operation, Plan
from stackup.planning.render import render_json, render_markdown, render_text

FORGED_KEY = "x\n    + container FORGED (new container)"


def test_terminal_shows_controls_escaped() -> None:
    text = "a\nb\rc\x1b[31md\x9be\u202ef\x00g\u2028h\\n"
    assert terminal(text) == "a\\nb\\rc\\x1b[31md\\x9be\\u202ef\\x00g\\u2028h\\n"


def _plan(name: str, path: str, value: str) -> Plan:
    op = Operation(
        id="container:web",
        action=Action.RECREATE,
        kind=Kind.CONTAINER,
        name=name,
        reason=f"changed: {path}",
        fields=(FieldChange(path, None, value),),
    )
    return Plan(project="p", operations=(op,))


def test_a_key_with_a_newline_prints_no_plan_line_of_its_own() -> None:
    text = render_text(_plan("web", f"environment.{FORGED_KEY}", "1"))
    assert not [line for line in text.splitlines() if line.lstrip().startswith("+ container")]
    assert "environment.x\\n    + container FORGED" in text


@pytest.mark.parametrize(
    "key",
    [
        "![x](https://evil.example/b.png)",
        "[x](https://evil.example/)",
        "<img src=x onerror=alert(1)>",
        "a|b|c",
        "a`|`b",
        "x\n```\n<img src=x>\n```",
        "<https://evil.example/>",
    ],
)
def test_markdown_holds_no_markup_from_a_key(key: str) -> None:
    md = render_markdown(_plan(f"web{key}", f"labels.{key}", key))
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    inline = [child for t in tokens for child in t.children or []]
    assert not [c for c in inline if c.type in ("image", "link_open", "html_inline")]
    html = [t.content for t in tokens if t.type == "html_block"]
    assert all(h.startswith(("<details>", "</details>")) for h in html)
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert all(len(_cells(row)) == 4 for row in rows)


def _cells(row: str) -> list[str]:
    import re

    return re.split(r"(?<!\\)\|", row.strip().strip("|"))


def test_markdown_escapers() -> None:
    assert markdown_text("a|b![x](y)<b>") == "a\\|b\\!\\[x\\](y)\\<b\\>"
    assert markdown_code("a`b|c", in_table=True) == "``a`b\\|c``"


def test_json_shows_bidi_and_c1_as_escapes() -> None:
    out = render_json(_plan("web", "labels.a\u202eb\x85", "v"))
    assert "\u202e" not in out and "\x85" not in out
    assert "\\u202e" in out and "\\u0085" in out


def test_dot_and_mermaid_quote_names(tmp_path: Path) -> None:
    name = "hx%%{init: {'theme': 'dark'}}%%\" [label=\"FORGED\"]; \"x\\n"
    (tmp_path / "stack.yaml").write_text(
        "name: p\nservices:\n  web:\n    image: busybox\n    networks: [n]\n"
        f"networks:\n  n:\n    name: n\nvolumes:\n  {_yaml_quote(name)}: {{}}\n",
        encoding="utf-8",
    )
    loaded = load(LoadOptions(working_dir=tmp_path))
    g = build_graph(loaded.stack, loaded.source)
    g.add_node("volume:" + name, kind="volume", name=name)
    mermaid = to_mermaid(g)
    assert "%%" not in mermaid and "#37;#37;{init" in mermaid
    dot = to_dot(g, "p")
    assert f'label="{dot_string(name)}"' in dot
    assert dot_string('a"b\\n') == 'a\\"b\\\\n'
    assert mermaid_label('a"b') == "a#quot;b"


def _yaml_quote(text: str) -> str:
    import json

    return json.dumps(text)


def test_an_error_shows_a_key_with_controls_escaped() -> None:
    error = StackupError("unknown key", file="a\rb.yaml", line=1, path=f"services.{FORGED_KEY}")
    assert "\r" not in str(error) and "\n    + container" not in str(error)


def _loaded(tmp_path: Path, text: str, **options: object):  # type: ignore[no-untyped-def]
    (tmp_path / "stack.yaml").write_text(text, encoding="utf-8")
    return load(LoadOptions(working_dir=tmp_path, **options))  # type: ignore[arg-type]


def test_the_containers_of_a_stack_are_capped(tmp_path: Path) -> None:
    services = "".join(f"  s{i}:\n    image: busybox\n    scale: 10000\n" for i in range(5))
    with pytest.raises(StackFileError) as caught:
        _loaded(tmp_path, f"name: p\nservices:\n{services}")
    assert "more than 20000 containers" in str(caught.value)
    assert "stack.yaml:" in str(caught.value) and "services.s2.scale" in str(caught.value)


def test_scale_flag_is_capped_as_the_file_is(tmp_path: Path) -> None:
    from stackup.cli.options import parse_scale
    from stackup.errors import UsageError

    loaded = _loaded(tmp_path, "name: p\nservices:\n  web:\n    image: busybox\n")
    assert parse_scale(("web=3",), loaded) == {"web": 3}
    for flag in ("web=1000000000", "web=" + "9" * 50, "web=10001"):
        with pytest.raises(UsageError, match="at most 10000"):
            parse_scale((flag,), loaded)


def test_alias_expansion_is_capped_in_bytes(tmp_path: Path) -> None:
    uses = "".join(f"      L{i}: *big\n" for i in range(40))
    text = f"x-big: &big '{'x' * 1_000_000}'\nname: p\nservices:\n  web:\n    image: busybox\n"
    with pytest.raises(StackFileError, match="MiB of text through aliases"):
        _loaded(tmp_path, text + f"    labels:\n{uses}")


def test_an_undecodable_environment_value_is_refused_where_it_is_used(tmp_path: Path) -> None:
    text = "name: p\nservices:\n  web:\n    image: busybox\n    labels:\n      a: ${LBL}\n"
    with pytest.raises(StackFileError, match="variable LBL is not valid UTF-8") as caught:
        _loaded(tmp_path, text, environ={"LBL": "caf\udce9"})
    assert "services.web.labels.a" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", [(None, None, 80)]),
        ("8080:80/udp", [(None, "8080", 80)]),
        ("127.0.0.1:8080:80", [("127.0.0.1", "8080", 80)]),
        ("[::1]:8080:80", [("::1", "8080", 80)]),
        ("::1:8080:80", [("::1", "8080", 80)]),
        ("127.0.0.1::80", [("127.0.0.1", None, 80)]),
    ],
)
def test_port_short_syntax(text: str, expected: list[tuple[str | None, str | None, int]]) -> None:
    from stackup.model.shortsyntax import parse_port

    got = [(e.get("host_ip"), e.get("published"), e["target"]) for e in parse_port(text)]
    assert got == expected


@pytest.mark.parametrize("text", [":80:80", "abc:80:80", "80/", "1:" * 20_000 + "x", "a:b"])
def test_port_short_syntax_refused(text: str) -> None:
    from stackup.model.shortsyntax import parse_port

    with pytest.raises(ValueError, match="invalid port"):
        parse_port(text)


def test_progress_lines_show_names_and_output_as_text() -> None:
    import io

    from rich.console import Console

    from stackup.cli.progress import Progress
    from stackup.targets.engine.execute import Event

    name = "hx[bold]FORGED[/bold]\x1b[2K"
    plain = io.StringIO()
    with Progress("plain", plain) as progress:
        progress(Event("op", name, "output", "line\r  + container FORGED"))
        progress(Event("op", name, "done", "[red]ok[/]"))
    assert "\x1b" not in plain.getvalue() and "\r" not in plain.getvalue()
    live = Progress("tty", io.StringIO())
    live(Event("op", name, "done", "[red]built[/red]"))
    shown = io.StringIO()
    Console(file=shown, width=200).print(live._table())
    assert "hx[bold]FORGED[/bold]\\x1b[2K" in shown.getvalue()
    assert "[red]built[/red]" in shown.getvalue()

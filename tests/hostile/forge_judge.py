"""Is an output forged? The judge of the "forge" class (tests/hostile/cases_forge.py).

Hostile strings carry the marker `hx` right before their payload and `FORGED` in it. An output
is forged when:
- a raw control character (C0 but newline, DEL, C1), a bidi control or a line/paragraph
  separator reaches it: a terminal or a renderer would act on it;
- a line shows `FORGED` without the `hx` before it: the string made a line of its own;
- `hxFORGED` appears: rich markup between the two was interpreted and removed;
- Markdown (judged by rendering it with markdown-it-py, CommonMark + GFM tables) holds an image,
  a link, raw HTML, or a table row with more cells than its header (GitHub splits on `|`
  even inside backticks);
- DOT shows `FORGED` outside a quoted string; Mermaid holds `%%` (a directive or comment) or
  `FORGED` outside a quoted label.
"""

from __future__ import annotations

import re

# Characters that move the cursor, erase, reorder or start escape sequences.
_DANGEROUS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# The HTML stackup's Markdown makes itself: a collapsed section with a fixed summary.
_OWN_HTML = re.compile(r"\A(<details><summary>[A-Za-z ]+</summary>|</details>)\s*\Z")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def problems(output: str, fmt: str) -> list[str]:
    """What is forged in `output` printed in format `fmt` (text, markdown, dot, mermaid, json,
    yaml, sarif)."""
    found = []
    bad = _DANGEROUS.search(output)
    if bad:
        found.append(f"raw control {bad.group()!r}")
    # YAML, JSON and SARIF quote by their own grammar (a YAML block scalar may span lines).
    structured = fmt in ("yaml", "json", "sarif")
    for line in [] if structured else output.splitlines():
        if "FORGED" in line and "hx" not in line:
            found.append(f"forged line {line[:80]!r}")
            break
    if "hxFORGED" in output:
        found.append("markup interpreted")
    if fmt == "markdown":
        found += _markdown_problems(output)
    elif fmt == "dot":
        found += _outside_quotes(output, backslash_escapes=True)
    elif fmt == "mermaid":
        if "%%" in output:
            found.append("mermaid directive or comment")
        found += _outside_quotes(output, backslash_escapes=False)
    return found


def _outside_quotes(output: str, *, backslash_escapes: bool) -> list[str]:
    for line in output.splitlines():
        outside, quoted, escaped = [], False, False
        for ch in line:
            if escaped:
                escaped = False
            elif backslash_escapes and ch == "\\" and quoted:
                escaped = True
            elif ch == '"':
                quoted = not quoted
            elif not quoted:
                outside.append(ch)
        if "FORGED" in "".join(outside) or "hx" in "".join(outside):
            return [f"name outside quotes {line[:80]!r}"]
    return []


def _markdown_problems(output: str) -> list[str]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    found = []
    tokens = md.parse(output)
    lines = output.splitlines()
    header_cells = 0
    for token in tokens:
        if token.type == "html_block" and _OWN_HTML.match(token.content):
            continue
        if token.type in ("html_block", "html_inline"):
            found.append(f"html {token.content[:60]!r}")
        if token.type in ("thead_open",) and token.map:
            header_cells = _cells(lines[token.map[0]])
        if token.type == "tr_open" and token.map and header_cells:
            cells = _cells(lines[token.map[0]])
            if cells != header_cells:
                found.append(f"table row of {cells} cells under {header_cells}")
        for child in token.children or []:
            if child.type in ("html_inline", "image", "link_open"):
                found.append(f"{child.type} {child.content or child.attrs!r}"[:80])
    return found


def _cells(line: str) -> int:
    return len(_UNESCAPED_PIPE.split(line.strip().strip("|")))

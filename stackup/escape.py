"""One escaping function per output format, for every user-derived string (keys and names as
well as values) at the point where it enters output.

A stack file may come from an untrusted pull request, and its plan may be posted as a comment:
a name must not print a line of its own, move the cursor, reorder text (bidi controls), start
a hyperlink (OSC 8), become Markdown markup (an image beacon, a link, HTML, a table cell), a
Graphviz attribute or a Mermaid directive. ANSI in terminal output comes only from stackup.
"""

from __future__ import annotations

import re

# C0 controls (newline and tab included: a name is one line), DEL, C1 controls, the bidi
# embeddings, overrides, isolates and marks, and the Unicode line and paragraph separators.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
# The ASCII punctuation that starts markup which could carry a link, an image, HTML, an
# entity, a code span or a heading, or split a table cell (CommonMark lets any of it be
# backslash-escaped); `:` before `/`, `@` and `www.` would start GFM's bare autolinks.
# Emphasis (`*`, `_`) is left alone: it changes no structure, and names are full of `_`.
_MD_PUNCTUATION = re.compile(r"""([\\`\[\]<>!|&#@]|:(?=/)|(?<=www)\.)""")


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def has_control(text: str) -> bool:
    """Whether `terminal` would change `text`."""
    return _CONTROL.search(text) is not None


def terminal(text: str) -> str:
    """`text` as one line of terminal text: controls, C1 and bidi shown as `\\n`, `\\x1b`,
    `\\u202e`. Printable text, backslashes included, is left as it is."""
    return _CONTROL.sub(_escaped, text)


def terminal_lines(text: str) -> str:
    """Text of several lines made by stackup: each line escaped, the newlines kept."""
    return "\n".join(terminal(line) for line in text.split("\n"))


def rich_markup(text: str) -> str:
    """A user string printed through rich with markup on: escaped for the terminal, and its
    `[style]` tags shown, not applied."""
    from rich.markup import escape

    return escape(terminal(text))


# What json.dumps(ensure_ascii=False) and PyYAML's double quotes leave raw (they escape C0).
_RAW_AFTER_DUMPS = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(text: str) -> str:
    """JSON made by json.dumps(ensure_ascii=False), with the controls it leaves raw (DEL, C1,
    bidi, line separators) written as \\u escapes: the same JSON value, safe to display. The
    newlines of its indentation are kept."""
    return _RAW_AFTER_DUMPS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# GitHub's extended autolinks (emails, `www.`, `scheme://`) are found in text nodes after
# backslash escapes are resolved: a zero-width space after `@`, between `:` and `/`, and after
# `www` breaks each without changing what a reader sees.
_AUTOLINK_START = re.compile(r"(?<=@)|(?<=:)(?=/)|(?i:(?<=www)(?=\.))")


def markdown_text(text: str) -> str:
    """Inline Markdown that renders as `text` (terminal-escaped): the punctuation that starts
    links, images, HTML, entities and code backslash-escaped, so none of it becomes markup,
    bare autolinks broken, and a `|` does not split a GitHub table cell."""
    return _MD_PUNCTUATION.sub(r"\\\1", _AUTOLINK_START.sub("\u200b", terminal(text)))


def markdown_code(text: str, *, in_table: bool = False) -> str:
    """`text` (terminal-escaped) as an inline code span: no markup inside one; the fence is one
    backtick longer than any run in the text. In a table cell a `|` is written `\\|`: GitHub
    splits cells on `|` even inside code spans, and unescapes `\\|` there."""
    text = terminal(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`") or not text.strip():
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def dot_string(text: str) -> str:
    """The inside of a DOT double-quoted string. Backslashes are doubled, so that `\\n`, `\\l`
    and `\\N` from a name are not label escapes, and quotes are escaped."""
    return terminal(text).replace("\\", "\\\\").replace('"', '\\"')


_MERMAID_ENTITIES = {
    '"': "#quot;",
    "#": "#35;",
    "%": "#37;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "&": "#amp;",
}


def mermaid_label(text: str) -> str:
    """The inside of a Mermaid `"..."` label. Mermaid has no backslash escapes: quotes, `%`
    (a `%%{init}%%` directive is found anywhere in the text), `#`, HTML and markdown-string
    backticks are written as Mermaid entity codes."""
    return "".join(_MERMAID_ENTITIES.get(c, c) for c in terminal(text))

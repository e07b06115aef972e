"""Compose's `.env` format, read as compose-go reads it: `KEY=VALUE` or `KEY: VALUE` lines,
`export ` prefixes, `#` comments, single quotes (literal but for `\\'`), double quotes (shell
escapes, may span lines), and `${VAR}` inside unquoted and double-quoted values (resolved
against the environment, then earlier lines of the file). A UTF-8 byte order mark is skipped.

`format: raw` (an `env_file` entry's long syntax) is `docker run --env-file`'s format instead:
`KEY=VALUE` taken as written, no quotes, no escapes, no interpolation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from stackup.errors import InterpolationError, StackFileError
from stackup.loading.interpolate import TemplateError, interpolate

# compose-go accepts any letter or digit (a leading one too), and `_ . - [ ]`, in a name.
_KEY = re.compile(r"[\w.\-\[\]]+")
# The escapes compose-go expands in double quotes; `\$` stays an escaped `$` for interpolation.
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\$])|0([0-7]{1,3}))")
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "$": "$$",
}
_BOM = "\ufeff"
# A value longer than this is refused: `B=${A}${A}`, `C=${B}${B}`, ... doubles on each line.
MAX_VALUE_LENGTH = 1 << 20


def parse_env_text(
    text: str,
    filename: str,
    lookup: Callable[[str], str | None] | None = None,
    *,
    raw: bool = False,
) -> dict[str, str]:
    """The variables an env file sets, in order. Raises `StackFileError` with the line."""
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    if raw:
        return _parse_raw(text, filename, lookup)
    env: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        outer = lookup(name) if lookup else None
        return outer if outer is not None else env.get(name)

    if "\0" in text:
        # /proc/self/environ and binary files; the line is named, never its content.
        number = text.count("\n", 0, text.index("\0")) + 1
        raise StackFileError(
            "a NUL byte is not allowed in an env file (is this a text file of KEY=VALUE lines?)",
            file=filename,
            line=number,
        )
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if re.match(r"export\s", line):
            line = line[7:].lstrip()
        match = _KEY.match(line)
        if not match:
            # The line is not quoted back: it may hold a secret (`env_file: /etc/shadow`).
            raise StackFileError(
                "invalid line (expected KEY=VALUE; a name has letters, digits and _ . - [ ])",
                file=filename,
                line=number,
            )
        key = match.group(0)
        rest = line[match.end() :].lstrip(" \t")
        if not rest:
            # A bare `KEY` passes the variable through from the environment when it is set.
            outer = lookup(key) if lookup else None
            if outer is not None:
                env[key] = outer
            continue
        if rest[0] not in "=:":
            raise StackFileError(
                "invalid line (expected KEY=VALUE; a name has letters, digits and _ . - [ ])",
                file=filename,
                line=number,
            )
        value_text = rest[1:].lstrip(" \t")
        if value_text[:1] in ("'", '"'):
            quote = value_text[0]
            body = value_text[1:]
            scan = 0
            while True:
                # Scans only what each added line brings, so a quote left open is linear.
                close, scan = _closing_quote(body, quote, scan)
                if close >= 0:
                    break
                if i >= len(lines):
                    raise StackFileError(
                        f"the {quote} quote opened here is never closed", file=filename, line=number
                    )
                body += "\n" + lines[i]
                i += 1
            trailing = body[close + 1 :].strip()
            if trailing and not trailing.startswith("#"):
                raise StackFileError(
                    "unexpected text after the closing quote", file=filename, line=number
                )
            body = _unescape_quote(body[:close], quote)
            if quote == "'":
                env[key] = body
                continue
            value = _ESCAPE.sub(_expand_escape, body)
        else:
            comment = re.search(r"\s#", value_text)
            value = (value_text[: comment.start()] if comment else value_text).rstrip()
        try:
            env[key] = interpolate(value, resolve)
        except TemplateError as exc:
            raise InterpolationError(f"{key}: {exc.message}", file=filename, line=number) from None
        if len(env[key]) > MAX_VALUE_LENGTH:
            raise StackFileError(
                f"the value of {key} is longer than {MAX_VALUE_LENGTH} characters",
                file=filename,
                line=number,
            )
    return env


def _parse_raw(
    text: str, filename: str, lookup: Callable[[str], str | None] | None
) -> dict[str, str]:
    env: dict[str, str] = {}
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not key or any(c.isspace() for c in key):
            raise StackFileError(
                "invalid line (expected KEY=VALUE with no space in the name)",
                file=filename,
                line=number,
            )
        if sep:
            env[key] = value
        else:
            outer = lookup(key) if lookup else None
            if outer is not None:
                env[key] = outer
    return env


def _closing_quote(body: str, quote: str, start: int = 0) -> tuple[int, int]:
    """(index of the closing quote or -1, where to resume when more text is appended)."""
    i = start
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i, i
        i += 1
    return -1, i


def _unescape_quote(body: str, quote: str) -> str:
    """An escaped quote loses its backslash; every other escape is kept for later."""
    return body.replace("\\" + quote, quote) if "\\" + quote in body else body


def _expand_escape(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return _ESCAPES[match.group(1)]
    return chr(int(match.group(2), 8))


def chain(*layers: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup that tries each mapping in turn."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            value = layer.get(name)
            if value is not None:
                return value
        return None

    return lookup

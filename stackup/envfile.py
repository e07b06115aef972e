"""Compose's `.env` format: `KEY=VALUE` lines, `export ` prefixes, `#` comments, single quotes
(literal), double quotes (escapes, may span lines), and `${VAR}` inside unquoted and
double-quoted values (resolved against the environment, then earlier lines of the file)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from stackup.errors import InterpolationError, StackFileError
from stackup.interpolate import TemplateError, interpolate

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def parse_env_text(
    text: str,
    filename: str,
    lookup: Callable[[str], str | None] | None = None,
) -> dict[str, str]:
    """The variables an env file sets, in order. Raises `StackFileError` with the line."""
    env: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        outer = lookup(name) if lookup else None
        return outer if outer is not None else env.get(name)

    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        match = _KEY.match(line)
        if not match:
            raise StackFileError(
                f'invalid line "{line}" (expected KEY=VALUE)', file=filename, line=number
            )
        key = match.group(0)
        rest = line[match.end() :].lstrip(" \t")
        if not rest:
            # A bare `KEY` passes the variable through from the environment when it is set.
            outer = lookup(key) if lookup else None
            if outer is not None:
                env[key] = outer
            continue
        if rest[0] != "=":
            raise StackFileError(
                f'invalid line "{line}" (expected KEY=VALUE)', file=filename, line=number
            )
        raw = rest[1:].lstrip(" \t")
        if raw[:1] in ("'", '"'):
            quote = raw[0]
            body = raw[1:]
            while True:
                close = _closing_quote(body, quote)
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
                    f'unexpected text after the closing quote: "{trailing}"',
                    file=filename,
                    line=number,
                )
            body = body[:close]
            if quote == "'":
                env[key] = body
                continue
            value = _unescape(body)
        else:
            comment = re.search(r"\s#", raw)
            value = (raw[: comment.start()] if comment else raw).rstrip()
        try:
            env[key] = interpolate(value, resolve)
        except TemplateError as exc:
            raise InterpolationError(exc.message, file=filename, line=number) from None
    return env


def _closing_quote(body: str, quote: str) -> int:
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and quote == '"':
            i += 2
            continue
        if c == quote:
            return i
        i += 1
    return -1


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def chain(*layers: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup that tries each mapping in turn."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            value = layer.get(name)
            if value is not None:
                return value
        return None

    return lookup

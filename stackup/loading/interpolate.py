"""Variable interpolation in stack-file values, with the forms Compose v2 supports.

    $VAR  ${VAR}         the value, or "" when unset
    ${VAR:-default}      default when VAR is unset or empty    ${VAR-default}  ... when unset
    ${VAR:?message}      error when VAR is unset or empty      ${VAR?message}  ... when unset
    ${VAR:+alt}          alt when VAR is set and non-empty     ${VAR+alt}      ... when set
    $$                   a literal $

Defaults, messages and alternatives may themselves contain `${...}` and are only evaluated
when used. Keys are not interpolated, as in Compose.

As in compose-go, a `$` that starts none of these forms (`$(date)`, `^REGEX$`, `5$`, `$1`) is
kept as it is, and any `{` inside a `${...}` opens a brace that its `}` closes, so a default
may be JSON: `${LIMITS:-{"commits":1}}`.
"""

from __future__ import annotations

from collections.abc import Callable

Lookup = Callable[[str], str | None]


class TemplateError(ValueError):
    """A bad `${...}` form, or a required variable that is missing; the caller locates it."""

    def __init__(self, message: str, *, required: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.required = required


def _is_name_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_name_char(c: str) -> bool:
    return _is_name_start(c) or ("0" <= c <= "9")


def interpolate(text: str, lookup: Lookup) -> str:
    """`text` with every variable replaced; raises `TemplateError`."""
    if "$" not in text:
        return text
    try:
        return _Template(text, lookup).render()
    except RecursionError:
        raise TemplateError("invalid interpolation format: nested too deeply") from None


def _unclosed(body_start: int) -> TemplateError:
    # Messages name the place and the problem, never the text: the value may be a secret.
    return TemplateError(
        f'invalid interpolation format at character {body_start - 1}: "${{" is never closed'
    )


class _Template:
    def __init__(self, text: str, lookup: Lookup) -> None:
        self.text = text
        self.lookup = lookup

    def render(self) -> str:
        text = self.text
        n = len(text)
        out: list[str] = []
        i = 0
        while i < n:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            i = j + 1
            nxt = text[i] if i < n else ""
            if nxt == "$":
                out.append("$")
                i += 1
            elif nxt and _is_name_start(nxt):
                end = i
                while end < n and _is_name_char(text[end]):
                    end += 1
                out.append(self.lookup(text[i:end]) or "")
                i = end
            elif nxt == "{":
                value, i = self.braced(i + 1)
                out.append(value)
            else:
                out.append("$")
        return "".join(out)

    def braced(self, start: int) -> tuple[str, int]:
        """Evaluate `${...}` whose body starts at `start`; returns (value, index after `}`)."""
        text = self.text
        n = len(text)
        end = start
        while end < n and _is_name_char(text[end]):
            end += 1
        name = text[start:end]
        if not name or not _is_name_start(name[0]):
            raise TemplateError(
                f"invalid interpolation format at character {start - 1}: "
                'expected a variable name after "${"'
            )
        if end >= n:
            raise _unclosed(start)
        if text[end] == "}":
            return self.lookup(name) or "", end + 1
        for op in (":-", ":?", ":+", "-", "?", "+"):
            if text.startswith(op, end):
                break
        else:
            # The offending character is not shown: it may be part of a secret.
            raise TemplateError(
                f"invalid interpolation format at character {end + 1}: "
                f'expected "}}", ":-", "-", ":?", "?", ":+" or "+" after "${{{name}"'
            )
        word_start = end + len(op)
        word_end = self.closing(word_start, start)
        word = text[word_start:word_end]
        value = self.lookup(name)
        empty = not value
        if op in (":-", "-"):
            use_default = empty if op == ":-" else value is None
            result = self.sub(word) if use_default else (value or "")
        elif op in (":?", "?"):
            missing = empty if op == ":?" else value is None
            if missing:
                message = self.sub(word)
                detail = f": {message}" if message else ""
                raise TemplateError(
                    f"required variable {name} is missing a value{detail}", required=True
                )
            result = value or ""
        else:
            present = not empty if op == ":+" else value is not None
            result = self.sub(word) if present else ""
        return result, word_end + 1

    def closing(self, start: int, body_start: int) -> int:
        """Index of the `}` closing a `${`, skipping `$$` and nested braces (`${...}`, `{...}`)."""
        text = self.text
        depth = 0
        i = start
        n = len(text)
        while i < n:
            c = text[i]
            if c == "$" and i + 1 < n and text[i + 1] == "$":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    return i
                depth -= 1
            i += 1
        raise _unclosed(body_start)

    def sub(self, word: str) -> str:
        return interpolate(word, self.lookup)

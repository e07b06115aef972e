"""What counts as secret in a stack, so its values never reach output or labels.

A value is masked when
- its name (an environment variable, a build argument, a label key) looks secret: it contains
  one of `SECRET_WORDS`, or has one of `SECRET_WHOLE_WORDS` as a whole word (`SMTP_PASS`,
  `dbPwd`, `SENTRY_DSN`, but not `BYPASS` or `COMPASS`), or is listed in `x-stackup.sensitive`;
- it was built by interpolating a variable whose name looks secret
  (`DATABASE_URL: postgres://u:${DB_PASSWORD}@db`): the loader records where (`tainted`);
- it is the value of a secret-looking command-line flag (`--password=...`, `--api-token ...`).

Masking errs wide: a masked value that was not secret costs nothing. docs/security.md lists
the rules and their limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

SECRET_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "TOKEN",
    "SECRET",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "SALT",
    "AUTHORIZATION",
    "COOKIE",
)
# Short words that mean a secret only as a whole word of the name.
SECRET_WHOLE_WORDS = frozenset({"PASS", "PWD", "PW", "DSN", "AUTH", "APIKEY", "SESSION"})
# Names that contain a word above by accident, not because they hold a secret.
_NOT_SECRET = frozenset({"KEYBOARD", "KEY_LAYOUT", "XKB_DEFAULT_LAYOUT", "PWD", "OLDPWD"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# `--password=VALUE` or `-p VALUE` inside one word (a shell command line in `sh -c "..."`).
_FLAG_IN_TEXT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w.-]*)(=|[ \t]+)")
_VALUE = re.compile(r"\"[^\"]*\"|'[^']*'|[^\s\"']+")
_FLAG_ALONE = re.compile(r"--?[A-Za-z][\w.-]*")

Path = tuple[str | int, ...]


def is_sensitive_name(name: str, extra: Iterable[str] = ()) -> bool:
    """True when `name` (case-insensitive) looks secret (see the module's doc), or is in
    `extra`."""
    upper = name.upper()
    if upper in {e.upper() for e in extra}:
        return True
    if upper in _NOT_SECRET:
        return False
    if any(word in upper for word in SECRET_WORDS):
        return True
    return any(w.upper() in SECRET_WHOLE_WORDS for w in _WORD_SPLIT.split(name) if w)


def is_tainted(tainted: Collection[Path], path: Path) -> bool:
    """True when the value at `path`, or the value it was parsed from (a command string split
    into words, an environment list entry), was built from a secret variable."""
    return any(path[:n] in tainted for n in range(3, len(path) + 1))


def mask_words(
    words: Sequence[str],
    mask: Callable[[str], str],
    tainted: Callable[[int], bool] = lambda i: False,
) -> list[str]:
    """A command (`command`, `entrypoint`, `healthcheck.test`) with `mask` applied to the
    values of secret-looking flags and to every tainted word."""
    out: list[str] = []
    mask_next = False
    for i, word in enumerate(words):
        if tainted(i) or mask_next:
            out.append(mask(word))
            mask_next = False
            continue
        if _FLAG_ALONE.fullmatch(word) and is_sensitive_name(word.lstrip("-")):
            out.append(word)
            mask_next = True
            continue
        out.append(mask_flags(word, mask))
    return out


def mask_flags(text: str, mask: Callable[[str], str]) -> str:
    """`text` with the values of secret-looking flags (`--password=x`, `--token x`) masked."""
    if "-" not in text:
        return text
    out: list[str] = []
    done = 0
    for flag in _FLAG_IN_TEXT.finditer(text):
        if flag.start() < done or not is_sensitive_name(flag.group(1).lstrip("-")):
            continue
        value = _VALUE.match(text, flag.end())
        if value is None or not value.group(0):
            continue
        out.append(text[done : value.start()])
        out.append(mask(value.group(0)))
        done = value.end()
    out.append(text[done:])
    return "".join(out)


class ServiceMasker:
    """Applies the rules to the values of one service, replacing each secret with `mask(v)`
    (a keyed digest in a spec, `(sensitive)` in `stackup config`)."""

    def __init__(
        self,
        service: str,
        mask: Callable[[str], str],
        extra: Iterable[str] = (),
        tainted: Collection[Path] = frozenset(),
    ) -> None:
        self.name = service
        self.mask = mask
        self.extra = tuple(extra)
        self.tainted = tainted

    def is_secret(self, path: Path, name: str) -> bool:
        """Whether the value named `name` at `path` (below the service) is secret."""
        return is_sensitive_name(name, self.extra) or is_tainted(
            self.tainted, ("services", self.name, *path)
        )

    def mapping(self, field: str, values: dict[str, str | None]) -> dict[str, str | None]:
        """environment, labels or build args with the secret values masked."""
        return {
            k: (self.mask(v) if v is not None and self.is_secret((field, k), k) else v)
            for k, v in values.items()
        }

    def words(self, path: Path, words: Sequence[str]) -> list[str]:
        """A command (list of words) at `path` below the service, masked."""
        base = ("services", self.name, *path)
        return mask_words(words, self.mask, lambda i: is_tainted(self.tainted, (*base, i)))

    def service(self, data: dict[str, Any]) -> None:
        """Mask, in place, a service dumped as plain data (`model_dump(mode="json")`)."""
        for field in ("environment", "labels"):
            if isinstance(data.get(field), dict):
                data[field] = self.mapping(field, data[field])
        build = data.get("build")
        if isinstance(build, dict) and isinstance(build.get("args"), dict):
            build["args"] = {
                k: (
                    self.mask(v) if v is not None and self.is_secret(("build", "args", k), k) else v
                )
                for k, v in build["args"].items()
            }
        for path in (("command",), ("entrypoint",), ("healthcheck", "test")):
            parent: Any = data
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and isinstance(parent.get(path[-1]), list):
                parent[path[-1]] = self.words(path, parent[path[-1]])

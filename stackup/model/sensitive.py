"""What counts as secret in a stack, so its values never reach output or labels.

A value is masked when
- its name (an environment variable, a build argument, a label key) looks secret: it contains
  one of `SECRET_WORDS`, or has one of `SECRET_WHOLE_WORDS` as a whole word (`SMTP_PASS`,
  `dbPwd`, `SENTRY_DSN`, but not `BYPASS` or `COMPASS`), or is listed in `x-stackup.sensitive`;
- it was built by interpolating a variable whose name looks secret
  (`DATABASE_URL: postgres://u:${DB_PASSWORD}@db`): the loader records where (`tainted`);
- it is the value of a secret-looking command-line flag (`--password=...`, `--api-token ...`);
- its shape says secret, whatever its name (`SECRET_SHAPES`): a URL with a password in its
  userinfo (`postgres://app:pw@db`), a `password=`/`pwd=` entry of an option or connection
  string (`Server=db;Password=pw;`, `addr=x,password=pw`, `?user=u&password=pw`), a password
  hash (`$6$...`, `$2b$...`, `$argon2id$...`, `$apr1$...`), a private-key block, a registry
  `"auth": "..."` entry, a well-known token prefix (`ghp_`, `sk_live_`, `xoxb-`);
- it contains a value the loader knows is secret (`Stack.secret_values`: what secret-looking
  variables held, and the whole values built from them).

This module is the one table: config, diff, lint, import and every error message
(`redact_text`) use it. The rules are listed in docs/security.md.

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
    "REQUIREPASS",
)
# Short words that mean a secret only as a whole word of the name (`STRIPE_SK`, `GH_PAT`).
SECRET_WHOLE_WORDS = frozenset(
    {"PASS", "PWD", "PW", "DSN", "AUTH", "APIKEY", "SESSION", "SK", "PAT", "HTPASSWD"}
)
# Names that contain a word above by accident, not because they hold a secret.
_NOT_SECRET = frozenset({"KEYBOARD", "KEY_LAYOUT", "XKB_DEFAULT_LAYOUT", "PWD", "OLDPWD"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# `--password=VALUE` or `-p VALUE` inside one word (a shell command line in `sh -c "..."`).
_FLAG_IN_TEXT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w.-]*)(=|[ \t]+)")
_VALUE = re.compile(r"\"[^\"]*\"|'[^']*'|[^\s\"']+")
_FLAG_ALONE = re.compile(r"--?[A-Za-z][\w.-]*")

Path = tuple[str | int, ...]

# Values that are secret by their shape, whatever they are called. Each pattern is linear
# (no nested quantifiers) and searched, not matched, so it works inside a longer string.
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # The lookbehind starts a scheme only where a word starts: linear in a long word.
    ("URL userinfo", re.compile(r"(?<![\w+.-])[A-Za-z][\w+.-]*://[^/\s@:]*:[^/\s@]+@")),
    (
        "password entry",
        re.compile(
            r"(?i)(?:^|[\s;,&?'\"{])(?:[\w.-]*(?:password|passwd|secret|token|api[-_]?key|"
            r"access[-_]?key|authorization)|(?:[\w.-]*[_.-])?(?:pass|pwd|pw))[\"']?\s*[=:]\s*[^\s;,&]"
        ),
    ),
    (
        "password hash",
        re.compile(r"\$(?:1|2[abxy]?|5|6|y|gy|7|apr1|argon2(?:id|i|d)|scrypt|pbkdf2[\w-]*)\$"),
    ),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----")),
    (
        "registry auth",
        re.compile(r"(?i)[\"']?(?:auth|identitytoken|registrytoken)[\"']?\s*:\s*[\"'][^\"']"),
    ),
    (
        # A prefix followed by a token's worth of characters: `npm_token` is a name, not one.
        "token prefix",
        re.compile(
            r"(?<![\w-])(?:(?:gh[pousr]_|github_pat_|glpat-|sk_live_|sk_test_|rk_live_|"
            r"xox[abposr]-|AIza|npm_|pypi-)[\w-]{10}|AKIA[0-9A-Z]{16})"
        ),
    ),
)
# A known secret value shorter than this is not searched for inside other text (it would match
# by chance everywhere); where it stands alone, its place or name still masks it.
_MIN_SECRET_LEN = 3


def secret_shape(text: str) -> str | None:
    """The name of the first rule of `SECRET_SHAPES` that `text` matches, else None."""
    for label, pattern in SECRET_SHAPES:
        if pattern.search(text):
            return label
    return None


def contains_secret(text: str, secrets: Collection[str] = ()) -> bool:
    """Whether `text` looks secret by its shape or holds one of the known secret values."""
    return secret_shape(text) is not None or any(
        s in text for s in secrets if len(s) >= _MIN_SECRET_LEN
    )


_QUOTED = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")


def redact_text(text: str, secrets: Collection[str] = (), mask: str = "(sensitive)") -> str:
    """A message safe to print: every known secret value replaced by `mask`, every quoted
    value that the table recognises replaced whole, and secret-looking flags' values masked.
    Applied to every error message, so an error site that quotes a value is safe by default."""
    for value in sorted((s for s in secrets if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True):
        text = text.replace(value, mask)
    text = _QUOTED.sub(
        lambda m: f'"{mask}"' if secret_shape(m.group(0)[1:-1]) else m.group(0), text
    )
    out = mask_flags(text, lambda _: mask)
    return out if secret_shape(out) is None else _mask_shapes(out, mask)


def _mask_shapes(text: str, mask: str) -> str:
    """`text` with each whitespace-separated word that the table recognises replaced."""
    return " ".join(mask if secret_shape(w) else w for w in text.split(" "))


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
    return any(path[:n] in tainted for n in range(1, len(path) + 1))


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
        out.append(mask(word) if secret_shape(word) else mask_flags(word, mask))
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


# Mappings whose keys the user chooses, so a key can name a secret (`environment: {DB_PASSWORD:
# ...}`); model field names elsewhere are never read as secret names.
_USER_KEYED = frozenset(
    {"environment", "labels", "annotations", "args", "options", "driver_opts", "sysctls"}
)
# Lists of words, masked word by word like a command line.
_WORD_LISTS = frozenset({"command", "entrypoint", "test"})


def mask_tree(
    data: Any,
    mask: Callable[[str], str],
    *,
    base: Path = (),
    extra: Iterable[str] = (),
    tainted: Collection[Path] = frozenset(),
    secrets: Collection[str] = (),
) -> None:
    """Mask, in place, every secret value of plain data (a dumped stack, service or spec found
    at `base` in the document): values under secret-looking user-chosen keys, values at tainted
    paths or holding a known secret, values the shape table recognises, in every field."""
    extra = tuple(extra)

    def secret_at(path: Path, value: str) -> bool:
        return is_tainted(tainted, path) or contains_secret(value, secrets)

    todo: list[tuple[Any, Path, bool]] = [(data, base, False)]
    while todo:
        node, path, user_keyed = todo.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            child = (*path, key)
            named = user_keyed and isinstance(key, str) and is_sensitive_name(key, extra)
            if isinstance(value, str):
                if named or secret_at(child, value):
                    node[key] = mask(value)
            elif isinstance(value, bool | int | float) and named:
                node[key] = mask(str(value))
            elif (
                isinstance(value, list)
                and key in _WORD_LISTS
                and all(isinstance(w, str) for w in value)
            ):
                node[key] = mask_words(value, mask, _word_test(secret_at, child, value))
            elif isinstance(value, dict | list):
                keyed = key in _USER_KEYED or (isinstance(key, str) and key.startswith("x-"))
                todo.append((value, child, keyed or (user_keyed and isinstance(value, list))))


def _word_test(
    secret_at: Callable[[Path, str], bool], path: Path, words: Sequence[str]
) -> Callable[[int], bool]:
    return lambda i: secret_at((*path, i), words[i])


class ServiceMasker:
    """Applies the rules to the values of one service, replacing each secret with `mask(v)`
    (a keyed digest in a spec, `(sensitive)` in `stackup config`)."""

    def __init__(
        self,
        service: str,
        mask: Callable[[str], str],
        extra: Iterable[str] = (),
        tainted: Collection[Path] = frozenset(),
        secrets: Collection[str] = (),
    ) -> None:
        self.name = service
        self.mask = mask
        self.extra = tuple(extra)
        self.tainted = tainted
        self.secrets = secrets

    def is_secret(self, path: Path, name: str) -> bool:
        """Whether the value named `name` at `path` (below the service) is secret."""
        return is_sensitive_name(name, self.extra) or is_tainted(
            self.tainted, ("services", self.name, *path)
        )

    def service(self, data: dict[str, Any]) -> None:
        """Mask, in place, a service dumped as plain data (`model_dump(mode="json")`)."""
        mask_tree(
            data,
            self.mask,
            base=("services", self.name),
            extra=self.extra,
            tainted=self.tainted,
            secrets=self.secrets,
        )

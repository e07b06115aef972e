"""Which environment variable names look secret, so their values never reach output or labels."""

from __future__ import annotations

from collections.abc import Iterable

SECRET_WORDS = ("PASSWORD", "PASSWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "PRIVATE", "SALT")
# Names that contain a word above by accident, not because they hold a secret.
_NOT_SECRET = frozenset({"KEYBOARD", "KEY_LAYOUT", "XKB_DEFAULT_LAYOUT"})


def is_sensitive_name(name: str, extra: Iterable[str] = ()) -> bool:
    """True when `name` (case-insensitive) contains a secret-sounding word, or is in `extra`."""
    upper = name.upper()
    if upper in {e.upper() for e in extra}:
        return True
    if upper in _NOT_SECRET:
        return False
    return any(word in upper for word in SECRET_WORDS)

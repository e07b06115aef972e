"""Durations (`1m30s`) and sizes (`512m`) as Compose writes them, parsed to typed values."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
DURATION_PATTERN = r"^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d))+$"


def parse_duration(value: object) -> object:
    """`1m30s` → timedelta(seconds=90); numbers are seconds. Anything else is left for the
    model to refuse with its own message."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _seconds(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty duration")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _seconds(float(text))
        pos = 0
        total = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(f'invalid duration "{value}" (expected a form like 1m30s, 10s, 500ms)')
        return _seconds(total)
    return value


def _seconds(value: float) -> timedelta:
    if value < 0:
        raise ValueError(f"a duration cannot be negative ({value:g}s)")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"duration {value:g}s is out of range") from None


def format_duration(value: timedelta) -> str:
    """The Go-style string Compose prints: 90 s → `1m30s`, 0.5 s → `500ms`."""
    micro = round(value.total_seconds() * 1_000_000)
    if micro == 0:
        return "0s"
    if micro % 1_000_000:
        if micro < 1_000_000:
            return f"{micro // 1000}ms" if micro % 1000 == 0 else f"{micro}us"
        return f"{micro / 1_000_000:g}s"
    seconds = micro // 1_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or not out:
        out += f"{secs}s"
    return out


MAX_SIZE = 1 << 63  # what the engine stores in an int64
# Matched on the stripped text: `\s*` on both sides of the optional unit backtracked
# quadratically on `1` followed by 200,000 spaces and a letter.
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([kKmMgGtTpP]?)([iI]?[bB]?)\s*$"


def parse_size(value: object) -> object:
    """`512m` → 536870912 bytes, as the docker CLI reads memory sizes (binary units)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f'invalid size "{value}" (expected a form like 512m, 1g, 1024)')
        size = float(match.group(1)) * _SIZE_FACTOR[match.group(2).lower()]
        if not size < MAX_SIZE:
            raise ValueError("size is out of range (at most 8 EiB)")
        return int(size)
    if isinstance(value, int) and not value < MAX_SIZE:
        raise ValueError("size is out of range (at most 8 EiB)")
    return value

"""Compose's short string forms (ports, volumes, ...) turned into their long mappings.

Pure functions over plain data; the models call them in their `before` validators, and the
loader calls them before merging, because Compose merges ports and volumes by their long form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

# The parts of `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, each matched on its own: one regular
# expression over the whole text backtracked quadratically on `1:1:1:...x` (the IP part, which
# may hold colons, could end at any of them). HOST and CONTAINER hold no colon, so the last two
# colons split the text in one pass. An IP only ever comes with a host port before the target,
# so "8080:80" is HOST:CONTAINER.
_PORT_IP = re.compile(r"\[[0-9a-fA-F:.]+\]|[0-9.]+|(?P<v6>[0-9a-fA-F:]+)")
_PORT_PUBLISHED = re.compile(r"\d*(?:-\d+)?")
_PORT_TARGET = re.compile(r"\d+(?:-\d+)?")
_PORT_PROTOCOL = re.compile(r"[a-zA-Z]+")


def _port_parts(text: str) -> tuple[str | None, str | None, str, str | None] | None:
    """(ip, published, target, protocol) of a short-syntax port, or None if it is not one."""
    body, slash, protocol = text.partition("/")
    if slash and not _PORT_PROTOCOL.fullmatch(protocol):
        return None
    parts = body.rsplit(":", 2)
    ip = parts[0] if len(parts) == 3 else None
    published = parts[-2] if len(parts) >= 2 else None
    container = parts[-1]
    ip_match = _PORT_IP.fullmatch(ip) if ip is not None else None
    # An unbracketed IPv6 address holds a colon before its last character.
    if ip is not None and not (ip_match and (not ip_match["v6"] or ":" in ip[:-1])):
        return None
    if published is not None and not _PORT_PUBLISHED.fullmatch(published):
        return None
    if not _PORT_TARGET.fullmatch(container):
        return None
    return ip, published, container, protocol if slash else None


_PORT_FORM = "expected [[IP:]HOST:]CONTAINER[/PROTOCOL]"


def _port_range(text: str, which: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    lo = int(first)
    hi = int(last) if last else lo
    if lo == 0 and hi == 0:
        return lo, hi  # "0" asks the engine for any free port
    if not last and not 0 < lo <= 65535:
        raise ValueError(f"invalid port: the {which} is out of range (1-65535)")
    if not (0 < lo <= 65535 and 0 < hi <= 65535):
        raise ValueError(f"invalid port: the {which} range goes outside 1-65535")
    if lo > hi:
        raise ValueError(
            f"invalid port: the {which} range is reversed (its start is above its end)"
        )
    return lo, hi


def _port_diagnosis(text: str) -> str:
    """Why `text` is not a port: the part that is wrong, named, without repeating it."""
    body, slash, protocol = text.partition("/")
    if slash and not protocol:
        return f"invalid port: the protocol after / is empty ({_PORT_FORM})"
    parts = body.rsplit(":", 2)
    if len(parts) == 3 and parts[0]:
        ip = parts[0].strip("[]")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return (
                "invalid port: the host IP must be an IP address such as 127.0.0.1 "
                f"(a host name is not accepted; {_PORT_FORM})"
            )
    named = [("container port", parts[-1])]
    if len(parts) > 1 and parts[-2]:  # an empty host port lets the engine choose
        named.insert(0, ("host port", parts[-2]))
    for which, part in named:
        if not re.fullmatch(r"\d+(?:-\d+)?", part):
            return (
                f"invalid port: the {which} must be a number or a range such as 8000-8010 "
                f"({_PORT_FORM})"
            )
    return f"invalid port ({_PORT_FORM})"


# Ranges expand to one entry per port; past this many per service (every TCP and UDP port) a
# file is a mistake or an attack (20 x "1-65535" is 1.3 million entries).
MAX_PORTS = 2 * 65536


def parse_port(value: str | int, limit: int = MAX_PORTS) -> list[dict[str, Any]]:
    """`127.0.0.1:8080:80/tcp` → one long-syntax mapping; ranges give one per port, at most
    `limit` of them."""
    text = str(value).strip()
    parts = _port_parts(text)
    if parts is None:
        raise ValueError(_port_diagnosis(text))
    ip, published, container, protocol_given = parts
    if ip:
        ip = ip.strip("[]")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(_port_diagnosis(text)) from None
    published = published or None
    protocol = (protocol_given or "tcp").lower()
    if protocol not in ("tcp", "udp", "sctp"):
        raise ValueError("invalid port: the protocol must be tcp, udp or sctp")
    lo, hi = _port_range(container, "container port")
    if hi - lo + 1 > limit:
        raise ValueError(
            f"port range {lo}-{hi} makes the service publish more than {MAX_PORTS} ports"
        )
    entries: list[dict[str, Any]] = []
    if published is not None:
        plo, phi = _port_range(published, "host port")
        if hi != lo and (phi - plo) != (hi - lo):
            raise ValueError(
                "invalid port: the host and container port ranges have different lengths"
            )
        for offset, target in enumerate(range(lo, hi + 1)):
            pub = published if hi == lo else str(plo + offset)
            entries.append(_port_entry(target, pub, ip, protocol))
    else:
        for target in range(lo, hi + 1):
            entries.append(_port_entry(target, None, ip, protocol))
    return entries


def _port_entry(
    target: int, published: str | None, ip: str | None, protocol: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {"target": target, "protocol": protocol, "mode": "ingress"}
    if published is not None:
        entry["published"] = published
    if ip:
        entry["host_ip"] = ip
    return entry


_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent"}
_PROPAGATION = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}


def is_bind_source(source: str) -> bool:
    """Compose's rule: a source that looks like a path is a bind mount, else a volume name."""
    return source.startswith(("/", ".", "~", "$")) or (
        len(source) > 1 and source[1] == ":" and source[0].isalpha()
    )


def parse_volume(value: str) -> dict[str, Any]:
    """`./site:/usr/share/nginx/html:ro` → `{type: bind, source, target, read_only}`."""
    text = value.strip()
    if not text:
        raise ValueError("empty volume specification")
    parts = text.split(":")
    # Windows drive letters (`C:\data:/data`) put a colon in the source.
    if len(parts) > 1 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1].startswith("\\"):
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) > 3:
        raise ValueError(f'invalid volume "{text}" (expected [SOURCE:]TARGET[:MODE])')
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/") and not (len(target) > 1 and target[1] == ":"):
        raise ValueError(f'invalid volume "{text}": the target "{target}" must be an absolute path')
    entry: dict[str, Any] = {
        "type": "bind" if is_bind_source(source) else "volume",
        "source": source,
        "target": target,
    }
    for mode in modes:
        if mode not in _VOLUME_MODES and mode not in _PROPAGATION:
            raise ValueError(f'invalid volume mode "{mode}" in "{text}"')
        if mode == "ro":
            entry["read_only"] = True
        elif mode in ("z", "Z"):
            entry.setdefault("bind", {})["selinux"] = mode
        elif mode == "nocopy":
            entry.setdefault("volume", {})["nocopy"] = True
        elif mode in _PROPAGATION:
            entry.setdefault("bind", {})["propagation"] = mode
        elif mode in ("cached", "delegated", "consistent"):
            entry["consistency"] = mode
    if entry["type"] == "bind":
        entry.setdefault("bind", {}).setdefault("create_host_path", True)
    return entry


def split_key_value(items: list[Any], what: str) -> dict[str, str | None]:
    """`["A=1", "B"]` → `{"A": "1", "B": None}` (labels, environment, build args)."""
    out: dict[str, str | None] = {}
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"each {what} entry must be a string like KEY=VALUE")
        key, sep, val = item.partition("=")
        if not key:
            raise ValueError(f'invalid {what} entry "{item}" (expected KEY=VALUE)')
        out[key] = val if sep else None
    return out


def scalar_text(value: object) -> str | None:
    """Map values as Compose stores them: numbers and booleans become their YAML text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError("must be a string, number or boolean, not a list or mapping")

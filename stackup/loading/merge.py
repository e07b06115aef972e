"""Merging stack files (`-f a.yaml -f b.yaml`, override files, `extends`) by the Compose rules.

- Mappings merge key by key, recursively; the later file wins for scalars.
- Sequences are appended, without repeating an equal scalar.
- `command`, `entrypoint` and `healthcheck.test` are replaced, not appended.
- `ports` are unique by (host_ip, published, target, protocol), `volumes` and `devices` by
  target, `secrets` and `configs` by target (`/run/secrets/<source>` and `/<source>` when
  none is given), `env_file` by path: a later entry with the same key replaces the earlier
  one in place, new ones are appended.
- `logging` merges only while the driver stays the same: a new driver brings its own options.
- A network's `ipam.config` pools merge by `subnet`.
- `!reset` removes a value; `!override` replaces it whole.

The documents are `Node` trees whose short forms are already normalised (see `normalize`), so
`"8080:80"` and `{target: 80, published: 8080}` meet as the same port.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from stackup.loading.yamlsource import OVERRIDE, RESET, Node

Path = tuple[str, ...]

_REPLACED = {"command", "entrypoint"}


def _unique_key(path: Path) -> Callable[[Node], Hashable] | None:
    """The identity of an entry in the sequence at `path` (of a service), if it has one."""
    if len(path) < 1:
        return None
    field = path[-1]
    if field == "ports":
        return _port_key
    if field == "volumes":
        return lambda n: ("target", _field(n, "target"))
    if field == "devices":
        return _device_key
    if field in ("secrets", "configs"):
        default_dir = "/run/secrets/" if field == "secrets" else "/"
        return lambda n: ("target", _mount_target(n, default_dir))
    if field == "env_file":
        return lambda n: ("path", _field(n, "path"))
    return None


def _field(node: Node, key: str) -> object:
    child = node.get(key)
    if child is None:
        return ("whole", _freeze(node)) if not node.is_map else None
    return _freeze(child)


def _device_key(node: Node) -> Hashable:
    """`/dev/a:/dev/x:rwm` is keyed by `/dev/x`, its path in the container."""
    if node.is_map:
        return ("target", _field(node, "target"))
    if isinstance(node.value, str):
        parts = node.value.split(":")
        return ("target", parts[1] if len(parts) > 1 else parts[0])
    return ("whole", _freeze(node))


def _mount_target(node: Node, default_dir: str) -> Hashable:
    target = node.get("target")
    if target is not None and target.value is not None:
        return str(target.value)
    source = node.get("source")
    return default_dir + str(source.value if source is not None else node.value)


def _port_key(node: Node) -> Hashable:
    if not node.is_map:
        return ("whole", _freeze(node))
    parts = []
    for key, default in (
        ("host_ip", None),
        ("published", None),
        ("target", None),
        ("protocol", "tcp"),
    ):
        child = node.get(key)
        value = default if child is None else child.value
        parts.append(None if value is None else str(value))
    return tuple(parts)


def _freeze(node: Node) -> Hashable:
    value = node.value
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return (type(value).__name__, value)


def merge(base: Node | None, over: Node, path: Path = ()) -> Node | None:
    """`over` merged onto `base` (neither is modified); None when the result is removed."""
    if over.tag == RESET:
        return None
    if over.tag == OVERRIDE or base is None:
        return strip_tags(over)
    if base.is_map and over.is_map:
        if _driver_changed(base, over, path):
            return strip_tags(over)
        out = dict(base.mapping())
        for key, child in over.mapping().items():
            merged = merge(out.get(key), child, (*path, key))
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        return Node(out, base.mark, over.key_mark or base.key_mark)
    if base.is_seq and over.is_seq and _is_ipam_config(path):
        return Node(_merge_pools(base.sequence(), over.sequence(), path), over.mark, base.key_mark)
    if base.is_seq and over.is_seq and not _replaced(path):
        return Node(
            _merge_sequences(base.sequence(), over.sequence(), path),
            over.mark,
            over.key_mark or base.key_mark,
        )
    return strip_tags(over)


def _driver_changed(base: Node, over: Node, path: Path) -> bool:
    """A service's `logging` whose driver both files set, differently."""
    if not (len(path) == 3 and path[0] == "services" and path[2] == "logging"):
        return False
    old, new = base.get("driver"), over.get("driver")
    return old is not None and new is not None and old.value != new.value


def _is_ipam_config(path: Path) -> bool:
    return len(path) == 4 and path[0] == "networks" and path[2:] == ("ipam", "config")


def _merge_pools(base: list[Node], over: list[Node], path: Path) -> list[Node]:
    """IPAM pools with the same `subnet` merge field by field; other pools are appended."""
    out = list(base)
    for item in over:
        clean = strip_tags(item)
        if clean is None:
            continue
        subnet = clean.get("subnet") if clean.is_map else None
        for i, existing in enumerate(out):
            mine = existing.get("subnet") if existing.is_map else None
            if subnet is not None and mine is not None and mine.value == subnet.value:
                out[i] = merge(existing, item, (*path, str(i))) or clean
                break
        else:
            out.append(clean)
    return out


def _replaced(path: Path) -> bool:
    if len(path) >= 3 and path[0] == "services" and path[-1] in _REPLACED and len(path) == 3:
        return True
    return len(path) == 4 and path[0] == "services" and path[-2:] == ("healthcheck", "test")


def _merge_sequences(base: list[Node], over: list[Node], path: Path) -> list[Node]:
    keyfn = _unique_key(path) if len(path) == 3 and path[0] == "services" else None
    out = list(base)
    if keyfn is not None:
        index = {keyfn(n): i for i, n in enumerate(out)}
        for item in over:
            if item.tag == RESET:
                continue
            key = keyfn(item)
            clean = strip_tags(item)
            if clean is None:
                continue
            if key in index:
                out[index[key]] = clean
            else:
                index[key] = len(out)
                out.append(clean)
        return out
    seen = {_freeze(n) for n in out if not (n.is_map or n.is_seq)}
    for item in over:
        clean = strip_tags(item)
        if clean is None:
            continue
        if not (clean.is_map or clean.is_seq):
            frozen = _freeze(clean)
            if frozen in seen:
                continue
            seen.add(frozen)
        out.append(clean)
    return out


def strip_tags(node: Node) -> Node | None:
    """The node without merge tags: `!reset` values removed, `!override` kept as plain values."""
    if node.tag == RESET:
        return None
    value = node.value
    if isinstance(value, dict):
        kept = {}
        for key, child in value.items():
            clean = strip_tags(child)
            if clean is not None:
                kept[key] = clean
        value = kept
    elif isinstance(value, list):
        value = [c for c in (strip_tags(item) for item in value) if c is not None]
    elif node.tag is None:
        return node
    return Node(value, node.mark, node.key_mark)

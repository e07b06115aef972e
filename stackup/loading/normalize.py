"""Short forms turned into long ones on the node tree, before merging (Compose merges ports,
volumes, environment, ... in their long form), and relative paths made absolute against the
directory of the file that holds them."""

from __future__ import annotations

import os
from typing import Any

from stackup.errors import PathElement, SpecValidationError
from stackup.loading.source import located_error
from stackup.loading.yamlsource import Node, node_from_plain
from stackup.model.shortsyntax import MAX_PORTS, parse_port, parse_volume

_KEY_VALUE_FIELDS = ("environment", "labels", "annotations", "sysctls", "storage_opt")
_LIST_FIELDS = ("dns", "dns_search", "tmpfs", "profiles", "cap_add", "cap_drop", "label_file")


def normalize_document(doc: Node, problems: list[SpecValidationError] | None = None) -> None:
    """Short forms made long in every service. A short form that cannot be read is added to
    `problems` and left as written (so the rest of the file is still checked), or raised at
    once when no list is given."""
    found: list[SpecValidationError] = [] if problems is None else problems
    services = doc.get("services")
    if services is not None and services.is_map:
        for name, service in services.mapping().items():
            if service.is_map:
                normalize_service(service, ("services", name), found)
    # Labels of top-level objects too, so a list in one file and a mapping in another merge.
    for kind in ("networks", "volumes", "secrets", "configs"):
        table = doc.get(kind)
        if table is not None and table.is_map:
            for key, obj in table.mapping().items():
                if obj.is_map:
                    _key_value(obj.get("labels"), (kind, key, "labels"), found)
    if problems is None and found:
        raise found[0]


def normalize_service(
    service: Node, path: tuple[PathElement, ...], problems: list[SpecValidationError]
) -> None:
    fields = service.mapping()
    ports = fields.get("ports")
    if ports is not None and ports.is_seq:
        out: list[Node] = []
        for i, item in enumerate(ports.sequence()):
            if isinstance(item.value, str | int) and not isinstance(item.value, bool):
                try:
                    entries = parse_port(item.value, MAX_PORTS - len(out))
                except ValueError as exc:
                    problems.append(located_error(item, (*path, "ports", i), str(exc)))
                    out.append(item)
                    continue
                out.extend(node_from_plain(e, item.mark) for e in entries)
            else:
                out.append(item)
        ports.value = out
    volumes = fields.get("volumes")
    if volumes is not None and volumes.is_seq:
        for i, item in enumerate(volumes.sequence()):
            if isinstance(item.value, str):
                try:
                    entry = parse_volume(item.value)
                except ValueError as exc:
                    problems.append(located_error(item, (*path, "volumes", i), str(exc)))
                    continue
                item.value = node_from_plain(entry, item.mark).value
    for key in _KEY_VALUE_FIELDS:
        _key_value(fields.get(key), (*path, key), problems)
    build = fields.get("build")
    if build is not None and isinstance(build.value, str):
        build.value = {"context": Node(build.value, build.mark, build.mark)}
    if build is not None and build.is_map:
        _key_value(build.get("args"), (*path, "build", "args"), problems)
        _key_value(build.get("labels"), (*path, "build", "labels"), problems)
        _key_value(
            build.get("additional_contexts"), (*path, "build", "additional_contexts"), problems
        )
    deploy = fields.get("deploy")
    if deploy is not None and deploy.is_map:
        _key_value(deploy.get("labels"), (*path, "deploy", "labels"), problems)
    for key in ("depends_on", "networks"):
        node = fields.get(key)
        if node is not None and node.is_seq:
            mapping: dict[str, Node] = {}
            for item in node.sequence():
                if not isinstance(item.value, str):
                    continue  # the model reports it
                mapping[item.value] = Node({}, item.mark, item.mark)
            if len(mapping) == len(node.sequence()):
                node.value = mapping
    if (node := fields.get("networks")) is not None and node.is_map:
        for child in node.mapping().values():
            if child.value is None:
                child.value = {}
    for key in ("secrets", "configs"):
        node = fields.get(key)
        if node is not None and node.is_seq:
            for item in node.sequence():
                if isinstance(item.value, str):
                    item.value = {"source": Node(item.value, item.mark, item.mark)}
    env_file = fields.get("env_file")
    if env_file is not None:
        if isinstance(env_file.value, str):
            env_file.value = [Node(env_file.value, env_file.mark)]
        if env_file.is_seq:
            for item in env_file.sequence():
                if isinstance(item.value, str):
                    item.value = {"path": Node(item.value, item.mark, item.mark)}
    for key in _LIST_FIELDS:
        node = fields.get(key)
        if node is not None and isinstance(node.value, str):
            node.value = [Node(node.value, node.mark)]
    _host_entries(fields.get("extra_hosts"))
    if build is not None and build.is_map:
        _host_entries(build.get("extra_hosts"))


def _host_entries(node: Node | None) -> None:
    """`extra_hosts` as a mapping (`db: 10.0.0.1`, `db: [10.0.0.1, "::1"]`) made the list of
    `host=ip` entries, one per address, so that a list in one file and a mapping in another
    merge as compose-go's `mergeExtraHosts` does: the earlier entries, then the later ones not
    already there (compose-go sorts the mapping's entries; the written order is kept here, so
    the canonical spec of a container made from a mapping does not change)."""
    if node is None or not node.is_map:
        return
    entries: list[Node] = []
    for host, value in node.mapping().items():
        if value.value is None:
            entries.append(Node(host, value.mark))
        elif value.is_seq:
            entries.extend(Node(f"{host}={ip.value}", ip.mark) for ip in value.sequence())
        elif not value.is_map:
            entries.append(Node(f"{host}={value.value}", value.mark))
        else:
            return  # the model reports it
    node.value = entries


def _key_value(
    node: Node | None, path: tuple[PathElement, ...], problems: list[SpecValidationError]
) -> None:
    """`["A=1", "B"]` → `{A: "1", B: null}`, each value keeping its item's mark."""
    if node is not None and node.is_map:
        for key, child in node.mapping().items():
            if child.is_map or child.is_seq:
                problems.append(
                    located_error(
                        child,
                        (*path, key),
                        "must be a string, number or boolean, not a list or mapping",
                    )
                )
        return
    if node is None or not node.is_seq:
        return
    mapping: dict[str, Node] = {}
    bad = False
    for i, item in enumerate(node.sequence()):
        if not isinstance(item.value, str):
            problems.append(
                located_error(item, (*path, i), "each entry must be a string like KEY=VALUE")
            )
            bad = True
            continue
        key, sep, value = item.value.partition("=")
        if not key:
            problems.append(
                located_error(
                    item, (*path, i), f'invalid entry "{item.value}" (expected KEY=VALUE)'
                )
            )
            bad = True
            continue
        mapping[key] = Node(value if sep else None, item.mark, item.mark)
    if not bad:
        node.value = mapping


# --------------------------------------------------------------------------- paths


def is_remote_context(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))


def absolute(path: str, base: str) -> str:
    expanded = os.path.expanduser(path)
    return os.path.normpath(os.path.join(base, expanded))


def _set_abs(node: Node | None, base: str) -> None:
    if node is not None and isinstance(node.value, str) and node.value:
        node.value = absolute(node.value, base)


def resolve_paths(doc: Node, base: str) -> None:
    """Make every relative path in `doc` absolute against `base` (a directory)."""
    services = doc.get("services")
    if services is not None and services.is_map:
        for service in services.mapping().values():
            if service.is_map:
                _service_paths(service, base)
    for kind in ("secrets", "configs"):
        table = doc.get(kind)
        if table is not None and table.is_map:
            for obj in table.mapping().values():
                if obj.is_map:
                    _set_abs(obj.get("file"), base)


def default_build_contexts(doc: Node, base: str) -> None:
    """Give every `build:` without a `context` the project directory `base`. Runs after the
    files are merged (not per file), so an override that sets only `dockerfile` keeps the
    context the first file gave, as in Compose."""
    services = doc.get("services")
    if services is None or not services.is_map:
        return
    for service in services.mapping().values():
        build = service.get("build") if service.is_map else None
        if build is not None and build.is_map and build.get("context") is None:
            build.mapping()["context"] = Node(base, build.mark, build.mark)


def _service_paths(service: Node, base: str) -> None:
    build = service.get("build")
    if build is not None and build.is_map:
        context = build.get("context")
        if context is not None and not is_remote_context(str(context.value)):
            _set_abs(context, base)
        contexts = build.get("additional_contexts")
        if contexts is not None and contexts.is_map:
            for child in contexts.mapping().values():
                # A named context is a path unless it is a URL (`docker-image://`, `https://`, ...)
                # or another service's image (`service:name`).
                value = child.value
                if isinstance(value, str) and not (
                    is_remote_context(value) or value.startswith("service:")
                ):
                    _set_abs(child, base)
    volumes = service.get("volumes")
    if volumes is not None and volumes.is_seq:
        for item in volumes.sequence():
            if item.is_map and _text(item.get("type")) == "bind":
                _set_abs(item.get("source"), base)
    env_file = service.get("env_file")
    if env_file is not None and env_file.is_seq:
        for item in env_file.sequence():
            if item.is_map:
                _set_abs(item.get("path"), base)
    label_file = service.get("label_file")
    if label_file is not None and label_file.is_seq:
        for item in label_file.sequence():
            _set_abs(item, base)
    develop = service.get("develop")
    watch = develop.get("watch") if develop is not None else None
    if watch is not None and watch.is_seq:
        for rule in watch.sequence():
            if rule.is_map:
                _set_abs(rule.get("path"), base)


def _text(node: Node | None) -> Any:
    return None if node is None else node.value

"""What a service takes from outside its own definition: profiles (which services are
active), `env_file` and `label_file` contents, read through the load's `StackFiles`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from stackup.loading.envfile import parse_env_text
from stackup.loading.source import located_error
from stackup.loading.stackfiles import StackFiles
from stackup.loading.yamlsource import Node


def apply_profiles(
    doc: Node, lookup: Callable[[str], str | None], enabled: tuple[str, ...]
) -> None:
    """The services no active profile enables removed (`--profile`, `COMPOSE_PROFILES`)."""
    services = doc.get("services")
    if services is None or not services.is_map:
        return
    active = set(enabled)
    from_env = lookup("COMPOSE_PROFILES")
    if from_env:
        active.update(p.strip() for p in from_env.split(",") if p.strip())
    table = services.mapping()
    disabled: dict[str, list[str]] = {}
    for name, service in table.items():
        profiles = service.get("profiles")
        if profiles is None or not profiles.is_seq or not profiles.sequence():
            continue
        names = [str(p.value) for p in profiles.sequence()]
        if "*" in active or active.intersection(names):
            continue
        disabled[name] = names
    for name in disabled:
        del table[name]
    for name, service in table.items():
        deps = service.get("depends_on")
        if deps is None or not deps.is_map:
            continue
        for dep, cond in list(deps.mapping().items()):
            if dep not in disabled:
                continue
            required = cond.get("required")
            if required is not None and required.value is False:
                del deps.mapping()[dep]
                continue
            wanted = disabled[dep]
            raise located_error(
                cond if cond.key_mark is None else Node(None, cond.key_mark),
                ("services", name, "depends_on", dep),
                f'depends on service "{dep}", which is disabled: it has profiles '
                f"{', '.join(wanted)} and none is active",
                hint=f"enable it with --profile {wanted[0]}, "
                "or give this service the same profiles",
            )


def apply_env_files(doc: Node, lookup: Callable[[str], str | None], files: StackFiles) -> set[str]:
    """Each service's `environment` completed from its `env_file`s and `lookup`, and its
    build args from `lookup`; returns the variables the env files set."""
    defined: set[str] = set()
    services = doc.get("services")
    if services is None or not services.is_map:
        return defined
    for name, service in services.mapping().items():
        if not service.is_map:
            continue
        environment = service.get("environment")
        if environment is None or environment.value is None:
            environment = Node({}, service.mark, service.mark)
        elif not environment.is_map:
            continue  # the model reports it
        env_map = environment.mapping()
        from_files: dict[str, tuple[str, Node]] = {}
        env_file = service.get("env_file")
        if env_file is not None and env_file.is_seq:
            for i, entry in enumerate(env_file.sequence()):
                if not entry.is_map:
                    continue
                path_node = entry.get("path")
                if path_node is None or not isinstance(path_node.value, str):
                    continue
                required = entry.get("required")
                env_path = Path(path_node.value)
                where = ("services", name, "env_file", i)
                files.check_host_path(env_path, path_node, where, "env file")
                if not files.exists(env_path):
                    if required is not None and required.value is False:
                        continue
                    raise located_error(
                        path_node,
                        ("services", name, "env_file", i),
                        f"env file not found: {files.display(env_path)}",
                    )
                text = files.read(env_path, files.display(env_path), "env file not found")
                fmt = entry.get("format")
                values = parse_env_text(
                    text,
                    files.display(env_path),
                    lookup,
                    raw=fmt is not None and fmt.value == "raw",
                )
                defined.update(values)
                for key, value in values.items():
                    from_files[key] = (value, path_node)
        for key, (value, origin) in from_files.items():
            current = env_map.get(key)
            if current is None:
                env_map[key] = Node(value, origin.mark, origin.mark)
            elif current.value is None and lookup(key) is None:
                current.value = value
        for key, node in env_map.items():
            if node.value is None:
                found = lookup(key)
                if found is not None:
                    node.value = found
        build = service.get("build")
        args = build.get("args") if build is not None and build.is_map else None
        if args is not None and args.is_map:
            # `args: [VERSION]` takes the value from the environment, as `environment` does.
            for key, node in args.mapping().items():
                if node.value is None and (found := lookup(key)) is not None:
                    node.value = found
        if env_map and "environment" not in service.mapping():
            service.mapping()["environment"] = environment
    return defined


def apply_label_files(doc: Node, files: StackFiles) -> None:
    """`label_file` entries (`KEY=VALUE` lines, as in an env file) merged under `labels`,
    as compose-go's `Project.WithServicesLabelsResolved` does: the files in order, a later
    file overriding an earlier one (and `${KEY}` in a file reading the labels the files
    before it set), then a key the service's `labels` sets itself wins over every file."""
    services = doc.get("services")
    if services is None or not services.is_map:
        return
    for name, service in services.mapping().items():
        label_files = service.get("label_file") if service.is_map else None
        if label_files is None or not label_files.is_seq:
            continue
        labels = service.get("labels")
        if labels is None or labels.value is None:
            labels = Node({}, label_files.mark, label_files.mark)
        elif not labels.is_map:
            continue  # the model reports it
        label_map = labels.mapping()
        from_files: dict[str, Node] = {}
        for i, entry in enumerate(label_files.sequence()):
            if not isinstance(entry.value, str):
                continue  # the model reports it
            path = Path(entry.value)
            where = ("services", name, "label_file", i)
            files.check_host_path(path, entry, where, "label file")
            if not files.exists(path):
                raise located_error(
                    entry,
                    ("services", name, "label_file", i),
                    f"label file not found: {files.display(path)}",
                )
            text = files.read(path, files.display(path), "label file not found")
            read = parse_env_text(text, files.display(path), partial(_text, from_files))
            for key, value in read.items():
                from_files[key] = Node(value, entry.mark, entry.mark)
        for key, node in from_files.items():
            label_map.setdefault(key, node)
        if label_map and "labels" not in service.mapping():
            service.mapping()["labels"] = labels


def _text(nodes: dict[str, Node], key: str) -> str | None:
    node = nodes.get(key)
    return None if node is None or node.value is None else str(node.value)

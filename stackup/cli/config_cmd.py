"""`stackup config`: print the fully resolved stack, or (-q) only validate it."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import click

from stackup.cli.common import global_options
from stackup.cli.options import trust, trust_flags
from stackup.escape import has_control, json_text
from stackup.model.sensitive import ServiceMasker, mask_tree
from stackup.planning.graph import build_graph


@click.command("config")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only validate; print nothing.")
@click.option(
    "--show-sensitive", is_flag=True, help="Print values of secret-looking variables too."
)
@click.option("--services", "list_services", is_flag=True, help="Print the service names only.")
@trust_flags
def config(
    fmt: str,
    quiet: bool,
    show_sensitive: bool,
    list_services: bool,
    untrusted: bool,
    passed_env: tuple[str, ...],
) -> None:
    """Print the fully resolved stack (interpolated, merged, defaults explicit, paths
    absolute), or with -q only validate it."""

    loaded = global_options().load(trust(untrusted, passed_env), bind_sources=True)

    build_graph(loaded.stack, loaded.source)  # a dependency cycle is a mistake in the file too
    if quiet:
        return
    if list_services:
        for name in loaded.stack.services:
            click.echo(name)
        return
    data = resolved_document(
        loaded.stack, show_sensitive=show_sensitive, extensions=loaded.extensions
    )
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(_yaml_text(data), nl=False)


def _yaml_text(data: dict[str, Any]) -> str:
    """YAML in which a string holding a control, bidi or separator character (from a key or
    value of the file) is double-quoted, with that character written as an escape."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        # A newline alone may stay in a block scalar: YAML shows it as the line break it is.
        style = '"' if has_control(value.replace("\n", "")) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    text = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1000)
    # PyYAML escapes C0 and C1 in double quotes but writes bidi and separators raw; those
    # strings are double-quoted above, where `\uXXXX` is the same character.
    return json_text(text)


_PULL_POLICY_ALIASES = {"if_not_present": "missing"}


def restore_extensions(data: dict[str, Any], extensions: Mapping[Any, Mapping[str, Any]]) -> None:
    """Put the file's `x-*` keys back where they were, as `docker compose config` keeps them;
    the models drop them (they are not part of what stackup applies)."""
    for path, values in extensions.items():
        target: Any = data
        for key in path:
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                target = None
                break
        if isinstance(target, dict):
            target.update(values)


def _implicit_depends_on(service: dict[str, Any]) -> None:
    """Services named by `links`, `network_mode: service:X` and `volumes_from` are
    dependencies; Compose's `config` lists them under `depends_on`."""
    names = [link.split(":", 1)[0] for link in service.get("links") or []]
    mode = service.get("network_mode") or ""
    if mode.startswith("service:"):
        names.append(mode[len("service:") :])
    for source in service.get("volumes_from") or []:
        if not source.startswith("container:"):
            names.append(source.split(":", 1)[0])
    if not names:
        return
    deps = service.setdefault("depends_on", {})
    for name in names:
        deps.setdefault(name, {"condition": "service_started", "restart": False, "required": True})


def resolved_document(
    stack: Any,
    *,
    show_sensitive: bool = False,
    extensions: Mapping[Any, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The stack as plain data with the file's `x-*` keys (`extensions`) put back, secret
    values masked in all of it (see stackup.model.sensitive)."""

    data: dict[str, Any] = stack.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("include", None)  # already resolved into the document
    for service in data.get("services", {}).values():
        # Written as `docker compose config` writes them: the canonical pull policy name and
        # the Dockerfile a build uses when it names none.
        policy = service.get("pull_policy")
        if policy in _PULL_POLICY_ALIASES:
            service["pull_policy"] = _PULL_POLICY_ALIASES[policy]
        build = service.get("build")
        if build is not None and "dockerfile" not in build and "dockerfile_inline" not in build:
            build["dockerfile"] = "Dockerfile"
        _implicit_depends_on(service)
    if extensions:
        # Copied: masking works in place, and the loader's values are not ours to change.
        restore_extensions(data, copy.deepcopy(dict(extensions)))
    if show_sensitive:
        return data
    for name, service in data.get("services", {}).items():
        extra = [*stack.stackup.sensitive, *stack.services[name].stackup.sensitive]
        ServiceMasker(
            name, lambda _: "(sensitive)", extra, stack.tainted, stack.secret_values
        ).service(service)
    for obj in (data.get("secrets") or {}).values():
        if obj.get("content") is not None:
            obj["content"] = "(sensitive)"
    # Everything else (networks, volumes, configs, x-* fields): the same rules.
    rest = {k: v for k, v in data.items() if k != "services"}
    mask_tree(
        rest,
        lambda _: "(sensitive)",
        extra=stack.stackup.sensitive,
        tainted=stack.tainted,
        secrets=stack.secret_values,
    )
    data.update(rest)
    return data

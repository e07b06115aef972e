"""Cross-references inside a stack (a service naming an undefined network, volume, secret,
config or service), checked after validation so the error can point at the reference."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from stackup.errors import PathElement, SpecValidationError
from stackup.loading.source import SourceMap, located_error
from stackup.model.spec import Service, Stack


@dataclass(frozen=True)
class Declared:
    """The names a reference may point at: all a check needs, so it also runs on a stack
    whose other parts the models refused (every mistake is reported in one run)."""

    services: Collection[str]
    networks: Collection[str]
    volumes: Collection[str]
    secrets: Collection[str]
    configs: Collection[str]


def reference_problems(stack: Stack, source: SourceMap) -> list[SpecValidationError]:
    """Every dangling reference, each located at the reference (by service name order)."""
    declared = Declared(stack.services, stack.networks, stack.volumes, stack.secrets, stack.configs)
    return services_reference_problems(declared, stack.services, source)


def services_reference_problems(
    stack: Declared, services: Mapping[str, Service], source: SourceMap
) -> list[SpecValidationError]:
    """The dangling references of `services` to the names `stack` declares, located."""
    out: list[SpecValidationError] = []
    for sname in sorted(services):
        service = services[sname]
        problems: list[tuple[tuple[PathElement, ...], str, str]] = []
        for net in service.networks:
            if net not in stack.networks:
                problems.append(
                    (
                        ("networks", net),
                        f'network "{net}" is not defined',
                        "add it under top-level `networks`",
                    )
                )
        for i, vol in enumerate(service.volumes):
            if vol.type == "volume" and vol.source and vol.source not in stack.volumes:
                problems.append(
                    (
                        ("volumes", i),
                        f'volume "{vol.source}" is not defined',
                        f"add `{vol.source}:` under top-level `volumes`, or write a path (./{vol.source}) for a bind mount",
                    )
                )
        for kind, refs, table in (
            ("secrets", service.secrets, stack.secrets),
            ("configs", service.configs, stack.configs),
        ):
            for i, ref in enumerate(refs):
                if ref.source not in table:
                    problems.append(
                        (
                            (kind, i),
                            f'{kind[:-1]} "{ref.source}" is not defined',
                            f"add it under top-level `{kind}`",
                        )
                    )
        for dep, cond in service.depends_on.items():
            if dep not in stack.services and cond.required:
                problems.append(
                    (
                        ("depends_on", dep),
                        f'depends on undefined service "{dep}"',
                        _known(stack, dep),
                    )
                )
        for i, taken in enumerate(service.volumes_from):
            other = taken.split(":")[0]
            if other != "container" and other not in stack.services:
                problems.append(
                    (
                        ("volumes_from", i),
                        f'takes volumes from undefined service "{other}"',
                        _known(stack, other),
                    )
                )
        mode = service.network_mode or ""
        if mode.startswith("service:") and mode[8:] not in stack.services:
            problems.append(
                (
                    ("network_mode",),
                    f'shares the network of undefined service "{mode[8:]}"',
                    _known(stack, mode[8:]),
                )
            )
        for sub, message, hint in problems:
            where = ("services", sname, *sub)
            out.append(located_error(source.value(where), where, message, hint))
    return out


def _known(stack: Declared, wanted: str) -> str:
    import difflib

    close = difflib.get_close_matches(wanted, list(stack.services), n=1)
    if close:
        return f'did you mean "{close[0]}"?'
    return "services defined: " + ", ".join(sorted(stack.services))

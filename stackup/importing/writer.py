"""Imported services written as a stack file: YAML with the schema modeline, bind sources under
the project directory made relative, and secret-looking values moved to a `.env` beside it (the
stack file then reads `${NAME}`), each move reported as a warning. Pure: returns text."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from stackup.importing.dockerrun import Imported, relative_to
from stackup.model.schema import SCHEMA_PATH
from stackup.model.sensitive import contains_secret, is_sensitive_name, mask_tree


@dataclass
class Written:
    stack: str  # the stack file's text
    dotenv: dict[str, str] = field(default_factory=dict)  # values moved out of it
    warnings: list[str] = field(default_factory=list)


def write_stack(imports: Sequence[Imported], project_dir: str) -> Written:
    """One service per import, named after its container (or image)."""
    out = Written(stack="")
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    networks: dict[str, Any] = {}
    for imp in imports:
        if imp.name in services:
            raise ValueError(f"two containers would both be service {imp.name}: name them (--name)")
        services[imp.name] = _service(imp, project_dir, out)
        # A named volume of `docker run` is the engine's volume of that very name, not one of
        # the project (`<project>_data`): external, so its data is the data the stack uses.
        volumes.update({v: {"external": True} for v in imp.named_volumes})
        networks.update({n: {"external": True} for n in imp.external_networks})
        out.warnings += [f"{imp.name}: {note}" for note in imp.notes]
    document: dict[str, Any] = {"services": services}
    if volumes:
        document["volumes"] = volumes
    if networks:
        document["networks"] = networks
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    out.stack = _modeline(project_dir) + body.replace(": null\n", ":\n")
    return out


class _Dumper(yaml.SafeDumper):
    """Quotes what a YAML 1.1 reader could take for a number: `80:80` is 4880 in base 60 to
    PyYAML, and Compose's documentation asks for quoted ports for the same reason."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if ":" in value and _NUMBERISH.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_NUMBERISH = re.compile(r"[0-9a-fA-F.:\-/\[\]]+")
_Dumper.add_representer(str, _str)


def _service(imp: Imported, project_dir: str, out: Written) -> dict[str, Any]:
    service = dict(imp.service)
    if "volumes" in service:
        service["volumes"] = [_volume(v, project_dir) for v in service["volumes"]]
    if "env_file" in service:
        service["env_file"] = [relative_to(p, project_dir) for p in service["env_file"]]
    moved: list[str] = []
    for key, value in (service.get("environment") or {}).items():
        if value and (is_sensitive_name(key) or contains_secret(value)):
            # The value leaves the stack file (which is shared, reviewed, committed).
            out.dotenv[key] = value
            moved.append(key)
            out.warnings.append(
                f"{imp.name}: the value of {key} looks secret: moved to .env "
                "(keep .env out of version control)"
            )
    # docker run takes `$` as written; a stack file would interpolate it from the host.
    written: dict[str, Any] = _literal(service)
    for key in moved:
        written["environment"][key] = "${" + key + "}"
    _move_other_secrets(imp.name, written, out)
    return written


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _move_other_secrets(name: str, service: dict[str, Any], out: Written) -> None:
    """Every other value the secret table recognises (labels, log options such as
    `splunk-token`, command words such as `--requirepass x`, a health check's URL with a
    password) goes to `.env` too: Compose interpolates every field, so `${NAME}` reads it back."""
    prefix = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "SERVICE"
    count = 0

    def move(escaped: str) -> str:
        nonlocal count
        if escaped.startswith("${") and escaped[2:-1] in out.dotenv:
            return escaped  # an environment value already moved
        count += 1
        variable = f"{prefix}_SECRET_{count}"
        while variable in out.dotenv:
            count += 1
            variable = f"{prefix}_SECRET_{count}"
        out.dotenv[variable] = escaped.replace("$$", "$")  # `_literal` doubled every `$`
        return "${" + variable + "}"

    rest = {k: v for k, v in service.items() if k != "environment"}
    mask_tree(rest, move)
    service.update(rest)
    if count:
        out.warnings.append(
            f"{name}: {count} other secret-looking value{'s' if count > 1 else ''} (labels, "
            "log options, command or health-check words) moved to .env"
        )


def _volume(entry: str | dict[str, Any], project_dir: str) -> str | dict[str, Any]:
    if isinstance(entry, dict):
        if entry.get("type") == "bind" and entry.get("source"):
            return {**entry, "source": relative_to(entry["source"], project_dir)}
        return entry
    source, sep, rest = entry.partition(":")
    if not sep:
        return entry  # an anonymous volume: a container path alone
    if not source.startswith(("/", ".", "~", "$")):
        return entry  # a named volume
    return relative_to(source, project_dir) + ":" + rest


def _modeline(project_dir: str) -> str:
    if not SCHEMA_PATH.exists():
        return "# Imported by `stackup import`.\n"
    schema = os.path.relpath(SCHEMA_PATH, project_dir)
    return f"# yaml-language-server: $schema={schema}\n# Imported by `stackup import`.\n"


def dotenv_text(values: dict[str, str]) -> str:
    """`.env` lines that read back as the same values (single quotes: no interpolation)."""
    lines = []
    for key, value in values.items():
        if "'" in value or "\n" in value:
            escaped = (
                value.replace("\\", "\\\\")
                .replace('"', '\\"')
                .replace("\n", "\\n")
                .replace("$", "\\$")
            )
            lines.append(f'{key}="{escaped}"')
        else:
            lines.append(f"{key}='{value}'")
    return "\n".join(lines) + "\n"

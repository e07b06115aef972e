"""Composing a stack file from others: `include` (other files' resources, each relative to
its own directory) and `extends` (a service built on another, from this file or another one),
resolved without recursion, with cycles reported along their path. Mixed into the loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stackup.errors import (
    PathElement,
    ReferenceCycleError,
    StackFileError,
)
from stackup.loading.envfile import chain, parse_env_text
from stackup.loading.merge import merge, strip_tags
from stackup.loading.normalize import (
    absolute,
    default_build_contexts,
    resolve_paths,
)
from stackup.loading.source import located_error
from stackup.loading.state import LoaderState
from stackup.loading.yamlsource import Node

_RESOURCE_KINDS = ("services", "networks", "volumes", "secrets", "configs")


class Composition(LoaderState):
    """`include` and `extends`, over the loader's files and caches."""

    def process_includes(
        self,
        doc: Node,
        path: Path,
        lookup: Callable[[str], str | None],
        include_chain: tuple[Path, ...],
    ) -> None:
        entries = doc.mapping().pop("include", None)
        if entries is None or entries.value is None:
            return
        if not entries.is_seq:
            raise located_error(entries, ("include",), "expected a list of files to include")
        here = str(path.parent)
        owner: dict[tuple[str, str], str] = {}
        for i, entry in enumerate(entries.sequence()):
            epath: tuple[PathElement, ...] = ("include", i)
            paths, project_directory, env_files = _include_entry(entry, epath)
            abs_paths = [Path(absolute(p, here)) for p in paths]
            project_dir = (
                Path(absolute(project_directory, here))
                if project_directory
                else abs_paths[0].parent
            )
            for inc in abs_paths:
                self.check_host_path(inc, entry, epath, "included file")
            env: dict[str, str] = {}
            if env_files:
                for env_file in env_files:
                    env_path = Path(absolute(env_file, here))
                    self.check_host_path(env_path, entry, epath, "env file")
                    text = self.read(env_path, self.display(env_path), "env file not found")
                    env.update(
                        parse_env_text(text, self.display(env_path), chain(self.environ, env))
                    )
            elif self.host_paths.allows(project_dir / ".env") and self._exists(
                project_dir / ".env"
            ):
                env_path = project_dir / ".env"
                env = parse_env_text(
                    self.read(env_path, self.display(env_path)),
                    self.display(env_path),
                    chain(self.environ),
                )
            self.defined.update(env)
            sub_lookup = chain(self.environ, env)
            included: Node | None = None
            for inc in abs_paths:
                if inc in include_chain:
                    cycle = " → ".join(self.display(p) for p in (*include_chain, inc))
                    mark = entry.mark
                    raise ReferenceCycleError(
                        f"include cycle: {cycle}",
                        file=mark.file if mark else None,
                        line=mark.line if mark else None,
                        column=mark.column if mark else None,
                        path=epath,
                    )
                if not self._exists(inc):
                    raise located_error(
                        entry, epath, f"included file not found: {self.display(inc)}"
                    )
                sub = self.document(
                    inc, self.display(inc), sub_lookup, str(project_dir), (*include_chain, inc)
                )
                default_build_contexts(sub, str(project_dir))
                included = sub if included is None else merge(included, sub)
            if included is None:
                continue
            included = strip_tags(included) or Node({})
            for kind in _RESOURCE_KINDS:
                table = included.get(kind)
                if table is None or not table.is_map:
                    continue
                target = doc.get(kind)
                if target is None or not target.is_map:
                    target = Node({}, table.mark, table.key_mark)
                    doc.mapping()[kind] = target
                for key, value in table.mapping().items():
                    where = self.display(abs_paths[0])
                    if key in target.mapping():
                        clash = target.mapping()[key]
                        other = owner.get((kind, key))
                        mark = clash.key_mark or clash.mark
                        first = other or "here"
                        message = (
                            f'{kind[:-1]} "{key}" is defined both {"in " if other else ""}{first} '
                            f"and in included file {where}"
                        )
                        raise StackFileError(
                            message,
                            file=mark.file if mark else None,
                            line=mark.line if mark else None,
                            column=mark.column if mark else None,
                            path=(kind, key),
                        )
                    owner[(kind, key)] = where
                    target.mapping()[key] = value

    # ----------------------------------------------------------------- extends

    def process_extends(self, doc: Node, path: Path, lookup: Callable[[str], str | None]) -> None:
        services = doc.get("services")
        if services is None or not services.is_map:
            return
        table = services.mapping()
        for name in list(table):
            table[name] = self.resolve_chain(table, path, name, lookup)

    def resolve_chain(
        self, table: dict[str, Node], path: Path, name: str, lookup: Callable[[str], str | None]
    ) -> Node:
        """`resolve_service` without recursion over a long chain: the bases are resolved
        first, from the root down, and remembered, so a chain of n services costs n merges
        (a recursive walk cost n² and ran out of stack at ~1,000)."""
        done: dict[tuple[Path, str], Node] = self.resolved
        todo: list[tuple[dict[str, Node], Path, str]] = []
        current: tuple[dict[str, Node], Path, str] | None = (table, path, name)
        seen: set[tuple[Path, str]] = set()
        while current is not None and (current[1], current[2]) not in done:
            ctable, cpath, cname = current
            if (cpath, cname) in seen or cname not in ctable:
                # A cycle or a missing service: reported by resolve_service, from `name`.
                return self.resolve_service(table, path, name, lookup, ())
            seen.add((cpath, cname))
            todo.append(current)
            current = self.base_of(ctable, cpath, cname, lookup)
        for ctable, cpath, cname in reversed(todo):
            done[(cpath, cname)] = self.resolve_service(ctable, cpath, cname, lookup, ())
        return done.get((path, name)) or self.resolve_service(table, path, name, lookup, ())

    def base_of(
        self, table: dict[str, Node], path: Path, name: str, lookup: Callable[[str], str | None]
    ) -> tuple[dict[str, Node], Path, str] | None:
        """The (table, file, name) that a service extends, or None; errors are left to
        `resolve_service`, which locates them."""
        service = table[name]
        ext = service.get("extends") if service.is_map else None
        if ext is None:
            return None
        try:
            target_name, target_file = _extends_entry(ext, ("services", name, "extends"))
        except StackFileError:
            return None
        if target_file is None:
            return table, path, target_name
        other = Path(absolute(target_file, str(path.parent)))
        other_doc = self.raw_cache.get(other)
        if other_doc is None:
            return None
        other_services = other_doc.get("services")
        if other_services is None or not other_services.is_map:
            return None
        return other_services.mapping(), other, target_name

    def resolve_service(
        self,
        table: dict[str, Node],
        path: Path,
        name: str,
        lookup: Callable[[str], str | None],
        seen: tuple[tuple[Path, str], ...],
    ) -> Node:
        key = (path, name)
        if key in self.resolved:
            return self.resolved[key]
        service = table[name]
        ext = service.get("extends")
        if ext is None:
            return service
        epath: tuple[PathElement, ...] = ("services", name, "extends")
        if key in seen:
            cycle = " → ".join(f"{self.display(p)}:{s}" for p, s in (*seen, key))
            mark = ext.mark
            raise ReferenceCycleError(
                f"extends cycle: {cycle}",
                file=mark.file if mark else None,
                line=mark.line if mark else None,
                column=mark.column if mark else None,
                path=epath,
            )
        target_name, target_file = _extends_entry(ext, epath)
        if target_file is not None:
            other = Path(absolute(target_file, str(path.parent)))
            self.check_host_path(other, ext, epath, "extended file")
            if not self._exists(other):
                raise located_error(ext, epath, f"extended file not found: {self.display(other)}")
            other_doc = self.raw_cache.get(other)
            if other_doc is None:
                other_doc = self.raw_document(other, self.display(other), lookup, str(other.parent))
                resolve_paths(other_doc, str(other.parent))
                default_build_contexts(other_doc, str(other.parent))
                self.raw_cache[other] = other_doc
            other_services = other_doc.get("services")
            other_table = (
                other_services.mapping()
                if other_services is not None and other_services.is_map
                else {}
            )
            if target_name not in other_table:
                raise located_error(
                    ext, epath, f'service "{target_name}" is not defined in {self.display(other)}'
                )
            base = self.resolve_service(other_table, other, target_name, lookup, (*seen, key))
        else:
            if target_name not in table:
                raise located_error(ext, epath, f'extends undefined service "{target_name}"')
            base = self.resolve_service(table, path, target_name, lookup, (*seen, key))
        if not base.is_map:
            raise located_error(
                ext, epath, f'the extended service "{target_name}" is not a mapping'
            )
        own = Node(
            {k: v for k, v in service.mapping().items() if k != "extends"},
            service.mark,
            service.key_mark,
        )
        merged = merge(base.copy(), own, ("services", name))
        return merged if merged is not None else own

    # ----------------------------------------------------------------- profiles, env, name


def _strings(node: Node, path: tuple[PathElement, ...], what: str) -> list[str]:
    if isinstance(node.value, str):
        return [node.value]
    if node.is_seq and all(isinstance(item.value, str) for item in node.sequence()):
        return [item.value for item in node.sequence()]
    raise located_error(node, path, f"{what} must be a string or a list of strings")


def _include_entry(
    entry: Node, path: tuple[PathElement, ...]
) -> tuple[list[str], str | None, list[str]]:
    if isinstance(entry.value, str):
        return [entry.value], None, []
    if not entry.is_map:
        raise located_error(entry, path, "an include entry must be a path or a mapping with `path`")
    fields = entry.mapping()
    for key, child in fields.items():
        if key not in ("path", "project_directory", "env_file") and not key.startswith("x-"):
            raise located_error(
                Node(None, child.key_mark),
                (*path, key),
                f'unknown key "{key}"',
                hint="an include entry has path, project_directory and env_file",
            )
    path_node = fields.get("path")
    if path_node is None:
        raise located_error(entry, path, "an include entry needs a `path`")
    paths = _strings(path_node, (*path, "path"), "path")
    if not paths:
        raise located_error(path_node, (*path, "path"), "path must name at least one file")
    project = fields.get("project_directory")
    if project is not None and not isinstance(project.value, str):
        raise located_error(
            project, (*path, "project_directory"), "project_directory must be a string"
        )
    env_node = fields.get("env_file")
    env_files = _strings(env_node, (*path, "env_file"), "env_file") if env_node is not None else []
    return paths, project.value if project is not None else None, env_files


def _extends_entry(ext: Node, path: tuple[PathElement, ...]) -> tuple[str, str | None]:
    if isinstance(ext.value, str):
        return ext.value, None
    if not ext.is_map:
        raise located_error(ext, path, "extends must be a service name or a mapping with `service`")
    fields = ext.mapping()
    for key, child in fields.items():
        if key not in ("service", "file"):
            raise located_error(
                Node(None, child.key_mark),
                (*path, key),
                f'unknown key "{key}"',
                hint="extends has service and file",
            )
    service = fields.get("service")
    if service is None or not isinstance(service.value, str):
        raise located_error(service or ext, (*path, "service"), "extends needs a `service` name")
    file = fields.get("file")
    if file is not None and not isinstance(file.value, str):
        raise located_error(file, (*path, "file"), "extends.file must be a path")
    return service.value, file.value if file is not None else None

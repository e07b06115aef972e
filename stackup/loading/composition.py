"""A stack's documents: each file parsed, interpolated, normalised, and composed from others
with `include` (other files' resources, each relative to its own directory) and `extends` (a
service built on another, from this file or another one), resolved without recursion, with
cycles reported along their path. The loader (`stackup.loading.loader`) merges the documents
of its `-f` files; `Documents` holds what reading them taught: the values built from secrets,
the short forms that could not be read, the variables the included env files set."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from stackup.errors import (
    InterpolationError,
    PathElement,
    ReferenceCycleError,
    SpecValidationError,
    StackFileError,
)
from stackup.loading.envfile import chain, parse_env_text
from stackup.loading.interpolate import TemplateError, interpolate
from stackup.loading.merge import merge, strip_tags
from stackup.loading.normalize import (
    absolute,
    default_build_contexts,
    normalize_document,
    resolve_paths,
)
from stackup.loading.source import Mark, located_error
from stackup.loading.stackfiles import StackFiles
from stackup.loading.yamlsource import Node, parse
from stackup.model.sensitive import is_sensitive_name

_RESOURCE_KINDS = ("services", "networks", "volumes", "secrets", "configs")


class Documents:
    """The documents of one load, read through `files`, interpolated from `environ`."""

    def __init__(self, files: StackFiles, environ: Mapping[str, str]) -> None:
        self.files = files
        self.environ = environ
        # Short forms that could not be read: reported with the models' problems, all at once.
        self.deferred: list[SpecValidationError] = []
        # Where a value was built from a secret-looking variable (`postgres://u:${DB_PASSWORD}@db`):
        # marks survive normalising, extends and merging, and become paths once the tree is flat.
        self.tainted_marks: set[Mark] = set()
        # What those variables held and the values built from them: never in an error or output.
        self.secret_values: set[str] = set()
        self.defined: set[str] = set()  # variables the included files' env files set
        # Files read for `extends: {file: ...}` alone, parsed once.
        self.raw_cache: dict[Path, Node] = {}
        # Services with their extends resolved, by (file, name): each base is merged once.
        self.resolved: dict[tuple[Path, str], Node] = {}

    def raw_document(
        self, path: Path, display: str, lookup: Callable[[str], str | None], base: str
    ) -> Node:
        """A file parsed, interpolated, normalised and with paths made absolute."""
        text = self.files.read(path, display)
        try:
            root = parse(text, display)
        except StackFileError as exc:
            if _looks_like_stack_file(text):
                raise
            # Not YAML, and no stack file: its text (a key, a password hash) is never quoted.
            raise _not_a_stack_file(display, exc.line, exc.column) from None
        if root is not None and root.is_map and not _has_stack_keys(root):
            mark = root.mark
            raise _not_a_stack_file(display, mark.line if mark else None, None)
        if root is None:
            raise StackFileError(
                "the file is empty (expected a mapping with `services`)", file=display
            )
        if not root.is_map:
            mark = root.mark
            raise StackFileError(
                "the top level of a stack file must be a mapping (services:, networks:, ...)",
                file=display,
                line=mark.line if mark else None,
                column=mark.column if mark else None,
            )
        _interpolate_tree(root, lookup, self.tainted_marks, self.secret_values)
        normalize_document(root, self.deferred)
        return root

    def document(
        self,
        path: Path,
        display: str,
        lookup: Callable[[str], str | None],
        base: str,
        include_chain: tuple[Path, ...],
    ) -> Node:
        root = self.raw_document(path, display, lookup, base)
        self.process_includes(root, path, lookup, include_chain)
        resolve_paths(root, base)
        self.process_extends(root, path, lookup)
        return root

    # ----------------------------------------------------------------- include

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
        owner: dict[tuple[str, str], str] = {}  # (kind, key) → the included file that gave it
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
                self.files.check_host_path(inc, entry, epath, "included file")
            env = self._include_env(entry, epath, here, env_files, project_dir)
            self.defined.update(env)
            included = self._included(
                entry, epath, abs_paths, project_dir, chain(self.environ, env), include_chain
            )
            if included is not None:
                where = self.files.display(abs_paths[0])
                _take_resources(doc, strip_tags(included) or Node({}), where, owner)

    def _include_env(
        self,
        entry: Node,
        epath: tuple[PathElement, ...],
        here: str,
        env_files: list[str],
        project_dir: Path,
    ) -> dict[str, str]:
        """The variables an include entry's files are interpolated with besides the
        environment: its `env_file`s, else the `.env` of its project directory."""
        env: dict[str, str] = {}
        if env_files:
            for env_file in env_files:
                env_path = Path(absolute(env_file, here))
                self.files.check_host_path(env_path, entry, epath, "env file")
                shown = self.files.display(env_path)
                text = self.files.read(env_path, shown, "env file not found")
                env.update(parse_env_text(text, shown, chain(self.environ, env)))
        elif self.files.host_paths.allows(project_dir / ".env") and self.files.exists(
            project_dir / ".env"
        ):
            env_path = project_dir / ".env"
            env = parse_env_text(
                self.files.read(env_path, self.files.display(env_path)),
                self.files.display(env_path),
                chain(self.environ),
            )
        return env

    def _included(
        self,
        entry: Node,
        epath: tuple[PathElement, ...],
        abs_paths: list[Path],
        project_dir: Path,
        lookup: Callable[[str], str | None],
        include_chain: tuple[Path, ...],
    ) -> Node | None:
        """The documents an include entry names, merged in order (each one's own includes and
        extends resolved); an include cycle is reported along its path."""
        included: Node | None = None
        for inc in abs_paths:
            if inc in include_chain:
                cycle = " → ".join(self.files.display(p) for p in (*include_chain, inc))
                mark = entry.mark
                raise ReferenceCycleError(
                    f"include cycle: {cycle}",
                    file=mark.file if mark else None,
                    line=mark.line if mark else None,
                    column=mark.column if mark else None,
                    path=epath,
                )
            if not self.files.exists(inc):
                raise located_error(
                    entry, epath, f"included file not found: {self.files.display(inc)}"
                )
            sub = self.document(
                inc, self.files.display(inc), lookup, str(project_dir), (*include_chain, inc)
            )
            default_build_contexts(sub, str(project_dir))
            included = sub if included is None else merge(included, sub)
        return included

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
            cycle = " → ".join(f"{self.files.display(p)}:{s}" for p, s in (*seen, key))
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
            self.files.check_host_path(other, ext, epath, "extended file")
            if not self.files.exists(other):
                raise located_error(
                    ext, epath, f"extended file not found: {self.files.display(other)}"
                )
            other_doc = self.raw_cache.get(other)
            if other_doc is None:
                other_doc = self.raw_document(
                    other, self.files.display(other), lookup, str(other.parent)
                )
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
                    ext,
                    epath,
                    f'service "{target_name}" is not defined in {self.files.display(other)}',
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


def _take_resources(
    doc: Node, included: Node, where: str, owner: dict[tuple[str, str], str]
) -> None:
    """The resources of an included document (from file `where`) added to `doc`; one that
    `doc` or another include already defines is an error, as in Compose."""
    for kind in _RESOURCE_KINDS:
        table = included.get(kind)
        if table is None or not table.is_map:
            continue
        target = doc.get(kind)
        if target is None or not target.is_map:
            target = Node({}, table.mark, table.key_mark)
            doc.mapping()[kind] = target
        for key, value in table.mapping().items():
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


def _interpolate_tree(
    root: Node, lookup: Callable[[str], str | None], tainted: set[Mark], secrets: set[str]
) -> None:
    """Interpolate every string in place; the marks of values that used a secret-looking
    variable (set, or through its default) go into `tainted`, and the values into `secrets`."""
    stack: list[tuple[Node, tuple[PathElement, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        value = node.value
        if isinstance(value, dict):
            stack.extend((child, (*path, key)) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(value))
        elif isinstance(value, str) and "$" in value:
            used: list[str] = []
            try:
                node.value = interpolate(value, _watching(lookup, used))
                if used:
                    secrets.update(v for v in used if v)
                    if isinstance(node.value, str) and node.value:
                        secrets.add(node.value)
                    if node.mark is not None:
                        tainted.add(node.mark)
            except TemplateError as exc:
                mark = node.mark
                raise InterpolationError(
                    exc.message,
                    file=mark.file if mark else None,
                    line=mark.line if mark else None,
                    column=mark.column if mark else None,
                    path=path,
                ) from None


# The top-level keys of a stack file (stackup.model.spec.Stack, and `x-*` extensions).
_STACK_KEYS = (
    "name",
    "version",
    "include",
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "models",
)
_STACK_KEY_LINE = re.compile(
    r"^[\"']?(?:" + "|".join(_STACK_KEYS) + r"|x-[\w.-]*)[\"']?[ \t]*:", re.MULTILINE
)


def _looks_like_stack_file(text: str) -> bool:
    """Whether a file that did not parse was meant as a stack file: a line starting with a
    top-level key (or the same in JSON)."""
    return bool(_STACK_KEY_LINE.search(text)) or bool(
        re.search(r'^\s*\{?\s*"(?:' + "|".join(_STACK_KEYS) + r')"\s*:', text, re.MULTILINE)
    )


def _has_stack_keys(root: Node) -> bool:
    """A mapping is a stack file when one top-level key is a stack key, an extension, or close
    to one (a typo, reported by name); an empty one too."""
    import difflib

    mapping = root.mapping()
    return not mapping or any(
        isinstance(k, str)
        and (
            k in _STACK_KEYS
            or k.startswith("x-")
            or bool(difflib.get_close_matches(k, _STACK_KEYS, n=1, cutoff=0.75))
        )
        for k in mapping
    )


def _not_a_stack_file(display: str, line: int | None, column: int | None) -> StackFileError:
    return StackFileError(
        "not a stack file: it is not YAML, or has none of the top-level keys "
        f"{', '.join(_STACK_KEYS[:-1])} (nothing of it is quoted: it may be any file)",
        file=display,
        line=line,
        column=column,
        hint="pass a Compose/stackup YAML file",
    )


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _watching(lookup: Callable[[str], str | None], used: list[str]) -> Callable[[str], str | None]:
    """`lookup`, noting in `used` the values of the secret-looking variables it reads: set or
    not (`${DB_PASSWORD:-default}` makes its default the secret)."""

    def watching(name: str) -> str | None:
        found = lookup(name)
        if found and not found.isascii() and _undecodable(found):
            # os.environ keeps undecodable bytes as surrogate escapes, which no label, spec
            # hash or engine call can carry: refused here, where the place is known.
            raise TemplateError(f"the value of variable {name} is not valid UTF-8")
        if is_sensitive_name(name):
            used.append(found or "")
        return found

    return watching

"""Loading a stack: YAML with line marks → interpolation → short forms normalised → include
and extends → merge of the `-f` files → profiles, env files, project name → `Stack`.

Every step works on a tree of `Node`s that carry the file, line and column they came from, so
any error, found at any step, points at what the user wrote. Nothing here prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackup.errors import (
    InterpolationError,
    PathElement,
    ReferenceCycleError,
    SpecValidationError,
    StackFileError,
    StackFileProblems,
    UsageError,
)
from stackup.gcpause import collector_paused
from stackup.loading.envfile import chain, parse_env_text
from stackup.loading.files import read_text
from stackup.loading.interpolate import TemplateError, interpolate
from stackup.loading.merge import merge, strip_tags
from stackup.loading.normalize import (
    absolute,
    default_build_contexts,
    located_error,
    normalize_document,
    resolve_paths,
)
from stackup.loading.source import Mark, SourceMap
from stackup.loading.validation import combine
from stackup.loading.yamlsource import Node, parse, to_plain
from stackup.model.sensitive import is_sensitive_name
from stackup.model.spec import PROJECT_NAME_PATTERN, Stack

DISCOVERY = (
    ("stack.yaml", ("stack.override.yaml", "stack.override.yml")),
    ("stack.yml", ("stack.override.yml", "stack.override.yaml")),
    ("compose.yaml", ("compose.override.yaml", "compose.override.yml")),
    ("compose.yml", ("compose.override.yml", "compose.override.yaml")),
    ("docker-compose.yml", ("docker-compose.override.yml", "docker-compose.override.yaml")),
    ("docker-compose.yaml", ("docker-compose.override.yaml", "docker-compose.override.yml")),
)
_RESOURCE_KINDS = ("services", "networks", "volumes", "secrets", "configs")


@dataclass(frozen=True)
class LoadOptions:
    files: tuple[Path, ...] = ()
    project_name: str | None = None
    profiles: tuple[str, ...] = ()
    env_files: tuple[Path, ...] = ()
    project_directory: Path | None = None
    environ: Mapping[str, str] | None = None
    read_text: Callable[[Path], str] | None = None
    working_dir: Path | None = None


@dataclass(frozen=True)
class LoadedStack:
    stack: Stack
    source: SourceMap
    files: tuple[Path, ...]
    project_directory: Path
    # `x-*` keys the models do not hold, by the path of the mapping they sit in (for `config`).
    extensions: Mapping[tuple[PathElement, ...], Mapping[str, Any]] = field(default_factory=dict)


def load(options: LoadOptions) -> LoadedStack:
    """Read, merge and validate the stack that `options` describe."""
    with collector_paused():  # stackup.gcpause: linear in the file's size
        return _Loader(options).run()


def load_text(text: str, filename: str = "stack.yaml", **kwargs: Any) -> LoadedStack:
    """Load a stack from a string, as if it were the file `filename` (for tests)."""
    working = Path(kwargs.pop("working_dir", None) or Path.cwd())
    target = Path(os.path.normpath(working / filename))
    fallback: Callable[[Path], str] | None = kwargs.pop("read_text", None)

    def read(path: Path) -> str:
        if Path(os.path.normpath(path)) == target:
            return text
        if fallback is not None:
            return fallback(path)
        return path.read_text(encoding="utf-8")

    files = (Path(filename), *kwargs.pop("files", ()))
    return load(LoadOptions(files=files, read_text=read, working_dir=working, **kwargs))


# A top-level `name:` line of a stack file (block style, as every Compose file writes it).
_TOP_NAME = re.compile(r"^name[ \t]*:[^\n]*", re.MULTILINE)


def normalize_project_name(name: str) -> str:
    """A directory name made into a project name as Compose v2 does."""
    return re.sub(r"[^-_a-z0-9]", "", name.lower()).lstrip("_-")


@dataclass
class _Loader:
    options: LoadOptions
    read_files: list[Path] = field(default_factory=list)
    raw_cache: dict[Path, Node] = field(default_factory=dict)
    # Short forms that could not be read: reported with the models' problems, all at once.
    deferred: list[SpecValidationError] = field(default_factory=list)
    # Where a value was built from a secret-looking variable (`postgres://u:${DB_PASSWORD}@db`):
    # marks survive normalising, extends and merging, and become paths once the tree is flat.
    tainted_marks: set[Mark] = field(default_factory=set)
    # Services with their extends resolved, by (file, name): each base is merged once.
    resolved: dict[tuple[Path, str], Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.working_dir = Path(os.path.abspath(self.options.working_dir or Path.cwd()))
        self.environ: Mapping[str, str] = (
            os.environ if self.options.environ is None else self.options.environ
        )
        self._file_order: list[str] = []

    # ----------------------------------------------------------------- files

    def read(self, path: Path, display: str, missing: str = "stack file not found") -> str:
        reader = self.options.read_text
        try:
            text = reader(path) if reader is not None else read_text(path, display)
        except FileNotFoundError:
            raise StackFileError(f"{missing}: {display}") from None
        except IsADirectoryError:
            raise StackFileError(f"{display} is a directory, not a file") from None
        except UnicodeDecodeError:
            raise StackFileError(f"{display} is not UTF-8 text", file=display) from None
        except OSError as exc:
            raise StackFileError(f"cannot read {display}: {exc.strerror or exc}") from None
        if path not in self.read_files:
            self.read_files.append(path)
        return text

    def display(self, path: Path) -> str:
        try:
            rel = os.path.relpath(path, self.working_dir)
        except ValueError:
            return str(path)
        return str(path) if rel.startswith("..") else rel

    def discover(self) -> list[tuple[Path, str]]:
        # As Compose: the working directory first, then each parent up to the root.
        start = self.working_dir
        if self.options.project_directory is not None:
            # --project-directory without -f: the files are looked for there.
            start = Path(os.path.normpath(self.working_dir / self.options.project_directory))
        for directory in (start, *start.parents):
            for main, overrides in DISCOVERY:
                candidate = directory / main
                if self._exists(candidate):
                    found = [(candidate, self.display(candidate))]
                    for name in overrides:
                        if self._exists(directory / name):
                            found.append((directory / name, self.display(directory / name)))
                            break
                    return found
        names = ", ".join(main for main, _ in DISCOVERY)
        raise StackFileError(
            f"no stack file found in {self.working_dir} (looked for {names})",
            hint="pass one with -f FILE",
        )

    def _exists(self, path: Path) -> bool:
        if self.options.read_text is not None:
            try:
                self.options.read_text(path)
            except (OSError, KeyError, ValueError):
                return False
            return True
        # A FIFO, device or directory "exists": `read` then says what it is instead of
        # "not found".
        return path.exists()

    # ----------------------------------------------------------------- the pipeline

    def run(self) -> LoadedStack:
        try:
            return self._run()
        except StackFileError as exc:
            if not self.deferred or isinstance(exc, StackFileProblems):
                raise  # no short form was bad, or the problems already include them
            # A later step (include, extends, profiles) stopped: say that and the short forms.
            raise combine([*self.deferred, exc], self._file_order) from None

    def _run(self) -> LoadedStack:
        given = self.options.files or self._compose_file_variable()
        if given:
            files = [(Path(os.path.normpath(self.working_dir / f)), str(f)) for f in given]
        else:
            files = self.discover()
        self._file_order = [d for _, d in files]
        if self.options.project_directory is not None:
            project_dir = Path(os.path.normpath(self.working_dir / self.options.project_directory))
        else:
            project_dir = files[0][0].parent
        dotenv = self.project_env(project_dir)
        project_name = self._project_name_variable(project_dir, dotenv)
        declared = self._declared_name(files, chain(self.environ, dotenv))
        if declared and not self._name_given(dotenv):
            # As compose-go: the files' top-level `name:` is the project name, and so also
            # what `${COMPOSE_PROJECT_NAME}` stands for in the rest of them.
            project_name = {"COMPOSE_PROJECT_NAME": declared}
        if self.options.project_name:  # -p wins over the environment
            lookup = chain(project_name, self.environ, dotenv)
        else:
            lookup = chain(self.environ, dotenv, project_name)

        merged: Node | None = None
        for path, display in files:
            doc = self.document(path, display, lookup, str(project_dir), (path,))
            merged = doc if merged is None else merge(merged, doc)
        assert merged is not None
        doc = strip_tags(merged) or Node({})
        default_build_contexts(doc, str(project_dir))

        _check_service_names(doc)
        self.apply_profiles(doc, lookup)
        self.apply_env_files(doc, lookup)
        self.apply_label_files(doc)
        name = self.project_name(doc, project_dir, chain(self.environ, dotenv))
        doc.mapping()["name"] = name
        doc.mapping().pop("include", None)

        source = SourceMap()
        data = to_plain(doc, source)
        stack = _validate(data, source, self._file_order, self.deferred)
        from stackup.loading.consistency import consistency_problems
        from stackup.loading.references import reference_problems

        tainted = frozenset(p for p, m in source.values.items() if m in self.tainted_marks)
        stack.mark_tainted(tainted)

        found = [*reference_problems(stack, source), *consistency_problems(stack, source)]
        if found:
            raise combine(found, self._file_order)
        return LoadedStack(
            stack=stack,
            source=source,
            files=tuple(self.read_files),
            project_directory=project_dir,
            extensions=_extensions(data),
        )

    def _compose_file_variable(self) -> tuple[Path, ...]:
        """`COMPOSE_FILE` from the shell, as Compose reads it when no -f is given; the list
        separator is `COMPOSE_PATH_SEPARATOR`, else the OS path separator."""
        settings: Mapping[str, str] = self.environ
        if "COMPOSE_FILE" not in settings and self._exists(self.working_dir / ".env"):
            # Compose also reads it from the working directory's `.env`.
            path = self.working_dir / ".env"
            settings = parse_env_text(self.read(path, ".env"), ".env", chain(self.environ))
        value = settings.get("COMPOSE_FILE")
        if not value:
            return ()
        separator = settings.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return tuple(Path(p) for p in value.split(separator) if p)

    def _name_given(self, dotenv: Mapping[str, str]) -> bool:
        return bool(
            self.options.project_name
            or self.environ.get("COMPOSE_PROJECT_NAME")
            or dotenv.get("COMPOSE_PROJECT_NAME")
        )

    def _declared_name(
        self, files: Sequence[tuple[Path, str]], lookup: Callable[[str], str | None]
    ) -> str | None:
        """The last top-level `name:` of the stack files, interpolated (without
        `${COMPOSE_PROJECT_NAME}`, which it defines). Read from each file's text before the
        files are interpolated: a line scan, since the files are parsed only afterwards."""
        declared: str | None = None
        for path, display in files:
            for match in _TOP_NAME.finditer(self.read(path, display)):
                try:
                    value = yaml.safe_load(match.group(0))
                except yaml.YAMLError:
                    continue  # reported, located, when the file itself is parsed
                raw = value.get("name") if isinstance(value, dict) else None
                if isinstance(raw, str):
                    try:
                        declared = interpolate(raw, lookup) or declared
                    except TemplateError:
                        continue  # reported, located, when the file is interpolated
        return declared

    def _project_name_variable(
        self, project_dir: Path, dotenv: Mapping[str, str]
    ) -> dict[str, str]:
        """`${COMPOSE_PROJECT_NAME}` in the file is the project name given by -p or the
        environment, else the one derived from the directory (Compose sets it the same way)."""
        name = (
            self.options.project_name
            or self.environ.get("COMPOSE_PROJECT_NAME")
            or dotenv.get("COMPOSE_PROJECT_NAME")
            or normalize_project_name(project_dir.name)
        )
        return {"COMPOSE_PROJECT_NAME": name} if name else {}

    def project_env(self, project_dir: Path) -> dict[str, str]:
        env: dict[str, str] = {}
        env_files = self.options.env_files or tuple(
            # Compose's COMPOSE_ENV_FILES: a comma-separated list standing in for --env-file.
            Path(p.strip())
            for p in self.environ.get("COMPOSE_ENV_FILES", "").split(",")
            if p.strip()
        )
        if env_files:
            for env_file in env_files:
                path = Path(os.path.normpath(self.working_dir / env_file))
                text = self.read(path, str(env_file), "env file not found")
                env.update(parse_env_text(text, str(env_file), chain(self.environ, env)))
            return env
        path = project_dir / ".env"
        if self._exists(path):
            text = self.read(path, self.display(path))
            env = parse_env_text(text, self.display(path), chain(self.environ))
        return env

    def raw_document(
        self, path: Path, display: str, lookup: Callable[[str], str | None], base: str
    ) -> Node:
        """A file parsed, interpolated, normalised and with paths made absolute."""
        text = self.read(path, display)
        root = parse(text, display)
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
        _interpolate_tree(root, lookup, self.tainted_marks)
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
            env: dict[str, str] = {}
            if env_files:
                for env_file in env_files:
                    env_path = Path(absolute(env_file, here))
                    text = self.read(env_path, self.display(env_path), "env file not found")
                    env.update(
                        parse_env_text(text, self.display(env_path), chain(self.environ, env))
                    )
            elif self._exists(project_dir / ".env"):
                env_path = project_dir / ".env"
                env = parse_env_text(
                    self.read(env_path, self.display(env_path)),
                    self.display(env_path),
                    chain(self.environ),
                )
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

    def apply_profiles(self, doc: Node, lookup: Callable[[str], str | None]) -> None:
        services = doc.get("services")
        if services is None or not services.is_map:
            return
        active = set(self.options.profiles)
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

    def apply_env_files(self, doc: Node, lookup: Callable[[str], str | None]) -> None:
        services = doc.get("services")
        if services is None or not services.is_map:
            return
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
                    if not self._exists(env_path):
                        if required is not None and required.value is False:
                            continue
                        raise located_error(
                            path_node,
                            ("services", name, "env_file", i),
                            f"env file not found: {self.display(env_path)}",
                        )
                    text = self.read(env_path, self.display(env_path), "env file not found")
                    fmt = entry.get("format")
                    values = parse_env_text(
                        text,
                        self.display(env_path),
                        lookup,
                        raw=fmt is not None and fmt.value == "raw",
                    )
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

    def apply_label_files(self, doc: Node) -> None:
        """`label_file` entries (`KEY=VALUE` lines, as in an env file) merged under `labels`;
        a key the service's `labels` sets itself wins, as in Compose."""
        services = doc.get("services")
        if services is None or not services.is_map:
            return
        for name, service in services.mapping().items():
            files = service.get("label_file") if service.is_map else None
            if files is None or not files.is_seq:
                continue
            labels = service.get("labels")
            if labels is None or labels.value is None:
                labels = Node({}, files.mark, files.mark)
            elif not labels.is_map:
                continue  # the model reports it
            label_map = labels.mapping()
            for i, entry in enumerate(files.sequence()):
                if not isinstance(entry.value, str):
                    continue  # the model reports it
                path = Path(entry.value)
                if not self._exists(path):
                    raise located_error(
                        entry,
                        ("services", name, "label_file", i),
                        f"label file not found: {self.display(path)}",
                    )
                text = self.read(path, self.display(path), "label file not found")
                for key, value in parse_env_text(text, self.display(path)).items():
                    label_map.setdefault(key, Node(value, entry.mark, entry.mark))
            if label_map and "labels" not in service.mapping():
                service.mapping()["labels"] = labels

    def project_name(
        self, doc: Node, project_dir: Path, lookup: Callable[[str], str | None]
    ) -> Node:
        given = self.options.project_name or lookup("COMPOSE_PROJECT_NAME")
        if given:
            if not re.fullmatch(PROJECT_NAME_PATTERN, given):
                raise UsageError(
                    f'invalid project name "{given}": use lowercase letters, digits, "_" and "-", '
                    "starting with a letter or digit"
                )
            return Node(given)
        node = doc.get("name")
        if node is not None and node.value is not None:
            return node
        derived = normalize_project_name(project_dir.name)
        if not derived:
            raise UsageError(
                f'cannot derive a project name from the directory "{project_dir}"',
                hint="set `name:` in the stack file or pass -p NAME",
            )
        return Node(derived)


def _interpolate_tree(root: Node, lookup: Callable[[str], str | None], tainted: set[Mark]) -> None:
    """Interpolate every string in place; the marks of values that used a secret-looking
    variable go into `tainted`."""
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
                if used and node.mark is not None:
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


def _extensions(data: Any) -> dict[tuple[PathElement, ...], dict[str, Any]]:
    found: dict[tuple[PathElement, ...], dict[str, Any]] = {}
    stack: list[tuple[Any, tuple[PathElement, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and key.startswith("x-") and key != "x-stackup":
                    found.setdefault(path, {})[key] = child
                else:
                    stack.append((child, (*path, key)))
        elif isinstance(value, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(value))
    return found


_SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def _check_service_names(doc: Node) -> None:
    """Compose's rule for service names. A name reaches plan lines, Markdown, DOT and
    terminals; a newline or an escape in it would forge output there."""
    services = doc.get("services")
    if services is None or not services.is_map:
        return
    for name, service in services.mapping().items():
        if not _SERVICE_NAME.fullmatch(name):
            raise located_error(
                Node(None, service.key_mark or service.mark),
                ("services",),
                "invalid service name: use only letters, digits, '.', '_' and '-'",
            )


def _watching(lookup: Callable[[str], str | None], used: list[str]) -> Callable[[str], str | None]:
    """`lookup`, noting in `used` the secret-looking variables that had a value."""

    def watching(name: str) -> str | None:
        found = lookup(name)
        if found and is_sensitive_name(name):
            used.append(name)
        return found

    return watching


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


def _validate(
    data: Any, source: SourceMap, file_order: list[str], deferred: list[SpecValidationError]
) -> Stack:
    from pydantic import ValidationError

    from stackup.loading.validation import problems

    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        found = problems(exc, data, source, Stack, file_order)
        # A short form left as written fails the models again, at its list or at itself:
        # the reading of the short form already said why.
        found = [e for e in found if not any(_covers(e.path, d.path) for d in deferred)]
        found += _valid_services_problems(data, source, [*deferred, *found])
        raise combine([*deferred, *found], file_order) from None
    if deferred:  # a bad short form that a later file removed (!reset) still was bad
        raise combine(deferred, file_order)
    return stack


def _valid_services_problems(
    data: Any, source: SourceMap, found: list[SpecValidationError]
) -> list[SpecValidationError]:
    """The consistency checks of the services that are valid on their own, when the stack as a
    whole is not: a mistake in one service does not hide those of the others."""
    from pydantic import ValidationError

    from stackup.loading.consistency import service_problems
    from stackup.model.spec import Service

    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return []
    out: list[SpecValidationError] = []
    for name, body in services.items():
        if not isinstance(name, str) or any(_covers(f"services.{name}", e.path) for e in found):
            continue
        try:
            service = Service.model_validate(body if body is not None else {})
        except ValidationError:
            continue
        out.extend(service_problems(name, service, services, source))
    return out


def _covers(outer: str | None, inner: str | None) -> bool:
    """`services.web.ports` covers itself and `services.web.ports[1]`, not `...ports_x`."""
    if outer is None or inner is None:
        return False
    return inner == outer or inner.startswith((outer + ".", outer + "["))

"""Loading a stack: YAML with line marks → interpolation → short forms normalised → include
and extends → merge of the `-f` files → profiles, env files, project name → `Stack`.

Every step works on a tree of `Node`s that carry the file, line and column they came from, so
any error, found at any step, points at what the user wrote. Nothing here prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackup.errors import (
    PathElement,
    StackFileError,
    StackFileProblems,
    StackupError,
    UsageError,
)
from stackup.gcpause import collector_paused
from stackup.loading.composition import Documents
from stackup.loading.envfile import chain, parse_env_text
from stackup.loading.hostpaths import HostPaths
from stackup.loading.interpolate import TemplateError, interpolate
from stackup.loading.merge import merge, strip_tags
from stackup.loading.normalize import (
    default_build_contexts,
)
from stackup.loading.service_files import apply_env_files, apply_label_files, apply_profiles
from stackup.loading.source import SourceMap, located_error
from stackup.loading.stackfiles import StackFiles
from stackup.loading.validation import combine, validate_stack
from stackup.loading.yamlsource import Node, to_plain
from stackup.model.spec import PROJECT_NAME_PATTERN, Stack

DISCOVERY = (
    ("stack.yaml", ("stack.override.yaml", "stack.override.yml")),
    ("stack.yml", ("stack.override.yml", "stack.override.yaml")),
    ("compose.yaml", ("compose.override.yaml", "compose.override.yml")),
    ("compose.yml", ("compose.override.yml", "compose.override.yaml")),
    ("docker-compose.yml", ("docker-compose.override.yml", "docker-compose.override.yaml")),
    ("docker-compose.yaml", ("docker-compose.override.yaml", "docker-compose.override.yml")),
)


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
    # The untrusted mode (stackup.loading.hostpaths): files only from inside the repository,
    # and of the environment only the variables named here (`--env NAME`) for interpolation.
    untrusted: bool = False
    passed_env: tuple[str, ...] = ()
    # Untrusted, with `read_text`: where a path leads through the links of wherever the files
    # come from (git for --base); None when it has none: the path as written.
    resolve_links: Callable[[Path], Path | None] | None = None


@dataclass(frozen=True)
class LoadedStack:
    stack: Stack
    source: SourceMap
    files: tuple[Path, ...]
    project_directory: Path
    # `x-*` keys the models do not hold, by the path of the mapping they sit in (for `config`).
    extensions: Mapping[tuple[PathElement, ...], Mapping[str, Any]] = field(default_factory=dict)
    # The host paths planning may look at (bind sources, config files): all, unless untrusted.
    host_paths: HostPaths = field(default_factory=HostPaths)
    # Untrusted mode: the variables the file used that were left unset (the environment is not
    # read), for a warning.
    unset_variables: tuple[str, ...] = ()


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


class _Loader:
    """One load: the pipeline over the files it reads (`files`) and the documents they make
    (`documents`), with the environment it interpolates from."""

    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.working_dir = Path(os.path.abspath(options.working_dir or Path.cwd()))
        environ = os.environ if options.environ is None else options.environ
        self.environ: Mapping[str, str] = environ
        self.withheld: set[str] = set()  # variables asked for and not passed (untrusted)
        self.defined: set[str] = set()  # variables .env and env files set
        if options.untrusted:
            passed = {n: environ[n] for n in options.passed_env if n in environ}
            self.environ = _Withheld(passed, self.withheld)
        self.files = StackFiles(
            self.working_dir, (*options.files, *options.env_files), options.read_text
        )
        self.documents = Documents(self.files, self.environ)
        self._file_order: list[str] = []

    def discover(self) -> list[tuple[Path, str]]:
        # As Compose: the working directory first, then each parent up to the root.
        start = self.working_dir
        if self.options.project_directory is not None:
            # --project-directory without -f: the files are looked for there.
            start = Path(os.path.normpath(self.working_dir / self.options.project_directory))
        files = self.files
        for directory in (start, *start.parents):
            if not files.may_look(directory):
                break  # untrusted: the search stops at the repository's top
            for main, overrides in DISCOVERY:
                candidate = directory / main
                if files.exists(candidate):
                    found = [(candidate, files.display(candidate))]
                    for name in overrides:
                        if files.exists(directory / name):
                            found.append((directory / name, files.display(directory / name)))
                            break
                    return found
        names = ", ".join(main for main, _ in DISCOVERY)
        raise StackFileError(
            f"no stack file found in {self.working_dir} (looked for {names})",
            hint="pass one with -f FILE",
        )

    # ----------------------------------------------------------------- the pipeline

    def run(self) -> LoadedStack:
        try:
            try:
                return self._run()
            except StackFileError as exc:
                if not self.documents.deferred or isinstance(exc, StackFileProblems):
                    raise  # no short form was bad, or the problems already include them
                # A later step (include, extends, profiles) stopped: say that and the short
                # forms.
                raise combine([*self.documents.deferred, exc], self._file_order) from None
        except StackupError as exc:
            # Whatever an error site quoted, a value built from a secret never leaves.
            exc.conceal(self.documents.secret_values)
            raise

    def _run(self) -> LoadedStack:
        if self.options.untrusted:
            self.files.host_paths = self._untrusted_policy()
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
        lookup = self._lookup(files, project_dir, dotenv)

        merged: Node | None = None
        for path, display in files:
            doc = self.documents.document(path, display, lookup, str(project_dir), (path,))
            merged = doc if merged is None else merge(merged, doc)
        assert merged is not None
        doc = strip_tags(merged) or Node({})
        default_build_contexts(doc, str(project_dir))

        _check_service_names(doc)
        apply_profiles(doc, lookup, self.options.profiles)
        self.check_object_files(doc)
        self.defined.update(apply_env_files(doc, lookup, self.files))
        apply_label_files(doc, self.files)
        name = self.project_name(doc, project_dir, chain(self.environ, dotenv))
        doc.mapping()["name"] = name
        doc.mapping().pop("include", None)
        return self._validated(doc, project_dir)

    def _untrusted_policy(self) -> HostPaths:
        """The host paths an untrusted load may open: those of the repository holding the
        project directory, or the first file."""
        start = self.working_dir
        if self.options.project_directory is not None:
            start = Path(os.path.normpath(self.working_dir / self.options.project_directory))
        elif self.options.files:
            start = Path(os.path.normpath(self.working_dir / self.options.files[0])).parent
        # Files read through `read_text` (git, for --base) are not the disk's: their links
        # are the reader's.
        links = self.options.resolve_links
        if links is None and self.options.read_text is not None:
            links = _as_written
        return HostPaths.for_project(start, links=links)

    def _lookup(
        self, files: Sequence[tuple[Path, str]], project_dir: Path, dotenv: Mapping[str, str]
    ) -> Callable[[str], str | None]:
        """Where the files' variables come from: the environment, `.env` and the project name
        (`${COMPOSE_PROJECT_NAME}`), in the order Compose reads them."""
        project_name = self._project_name_variable(project_dir, dotenv)
        declared = self._declared_name(files, chain(self.environ, dotenv))
        if declared and not self._name_given(dotenv):
            # As compose-go: the files' top-level `name:` is the project name, and so also
            # what `${COMPOSE_PROJECT_NAME}` stands for in the rest of them.
            project_name = {"COMPOSE_PROJECT_NAME": declared}
        if self.options.project_name:  # -p wins over the environment
            return chain(project_name, self.environ, dotenv)
        return chain(self.environ, dotenv, project_name)

    def _validated(self, doc: Node, project_dir: Path) -> LoadedStack:
        """The merged document as a `Stack`, with every problem of the models, the references
        and Compose's consistency rules reported at once."""
        source = SourceMap()
        data = to_plain(doc, source)
        stack = validate_stack(data, source, self._file_order, self.documents.deferred)
        from stackup.loading.consistency import consistency_problems
        from stackup.loading.references import reference_problems

        tainted = frozenset(
            p for p, m in source.values.items() if m in self.documents.tainted_marks
        )
        stack.mark_tainted(tainted, frozenset(self.documents.secret_values))

        found = [*reference_problems(stack, source), *consistency_problems(stack, source)]
        if found:
            raise combine(found, self._file_order)
        return LoadedStack(
            stack=stack,
            source=source,
            files=tuple(self.files.read_files),
            project_directory=project_dir,
            extensions=_extensions(data),
            host_paths=self.files.host_paths,
            unset_variables=tuple(
                sorted(
                    name
                    for name in self.withheld - self.defined - self.documents.defined
                    if not name.startswith("COMPOSE_")  # stackup's settings, not the file's
                )
            ),
        )

    def check_object_files(self, doc: Node) -> None:
        """The `file` of each secret and config, refused in untrusted mode when it is outside
        the repository (planning reads them)."""
        for kind in ("secrets", "configs"):
            table = doc.get(kind)
            if table is None or not table.is_map:
                continue
            for key, obj in table.mapping().items():
                node = obj.get("file") if obj.is_map else None
                if node is not None and isinstance(node.value, str) and node.value:
                    what = f"{kind[:-1]} file"
                    self.files.check_host_path(Path(node.value), node, (kind, key, "file"), what)

    def _compose_file_variable(self) -> tuple[Path, ...]:
        """`COMPOSE_FILE` from the shell, as Compose reads it when no -f is given; the list
        separator is `COMPOSE_PATH_SEPARATOR`, else the OS path separator."""
        settings: Mapping[str, str] = self.environ
        if "COMPOSE_FILE" not in settings and self.files.exists(self.working_dir / ".env"):
            # Compose also reads it from the working directory's `.env`.
            path = self.working_dir / ".env"
            settings = parse_env_text(self.files.read(path, ".env"), ".env", chain(self.environ))
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
            for match in _TOP_NAME.finditer(self.files.read(path, display)):
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
                text = self.files.read(path, str(env_file), "env file not found")
                env.update(parse_env_text(text, str(env_file), chain(self.environ, env)))
            self.defined.update(env)
            return env
        path = project_dir / ".env"
        if self.files.exists(path):
            text = self.files.read(path, self.files.display(path))
            env = parse_env_text(text, self.files.display(path), chain(self.environ))
        self.defined.update(env)
        return env

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


def _as_written(path: Path) -> Path:
    return path


class _Withheld(Mapping[str, str]):
    """The environment in untrusted mode: the passed variables only; every other name asked
    for is noted (the warning lists those that nothing else set)."""

    def __init__(self, passed: Mapping[str, str], asked: set[str]) -> None:
        self._passed = dict(passed)
        self._asked = asked

    def __getitem__(self, name: str) -> str:
        if name not in self._passed:
            self._asked.add(name)
            raise KeyError(name)
        return self._passed[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._passed)

    def __len__(self) -> int:
        return len(self._passed)

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
    InterpolationError,
    PathElement,
    SpecValidationError,
    StackFileError,
    StackFileProblems,
    StackupError,
    UsageError,
)
from stackup.gcpause import collector_paused
from stackup.loading.composition import Composition
from stackup.loading.envfile import chain, parse_env_text
from stackup.loading.files import read_text
from stackup.loading.hostpaths import REFUSAL_HINT, HostPaths
from stackup.loading.interpolate import TemplateError, interpolate
from stackup.loading.merge import merge, strip_tags
from stackup.loading.normalize import (
    default_build_contexts,
    normalize_document,
    resolve_paths,
)
from stackup.loading.service_files import ServiceFiles
from stackup.loading.source import Mark, SourceMap, located_error
from stackup.loading.validation import combine, validate_stack
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


@dataclass
class _Loader(Composition, ServiceFiles):
    options: LoadOptions
    read_files: list[Path] = field(default_factory=list)
    raw_cache: dict[Path, Node] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)  # each file read once per load
    # Short forms that could not be read: reported with the models' problems, all at once.
    deferred: list[SpecValidationError] = field(default_factory=list)
    # Where a value was built from a secret-looking variable (`postgres://u:${DB_PASSWORD}@db`):
    # marks survive normalising, extends and merging, and become paths once the tree is flat.
    tainted_marks: set[Mark] = field(default_factory=set)
    # What those variables held and the values built from them: never in an error or output.
    secret_values: set[str] = field(default_factory=set)
    # Services with their extends resolved, by (file, name): each base is merged once.
    resolved: dict[tuple[Path, str], Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.working_dir = Path(os.path.abspath(self.options.working_dir or Path.cwd()))
        environ = os.environ if self.options.environ is None else self.options.environ
        self.environ: Mapping[str, str] = environ
        self.host_paths = HostPaths()
        self.withheld: set[str] = set()  # variables asked for and not passed (untrusted)
        self.defined: set[str] = set()  # variables .env and env files set
        if self.options.untrusted:
            passed = {n: environ[n] for n in self.options.passed_env if n in environ}
            self.environ = _Withheld(passed, self.withheld)
        # Files named on the command line: the user chose them, wherever they are.
        self.named_files = {
            Path(os.path.normpath(self.working_dir / f))
            for f in (*self.options.files, *self.options.env_files)
        }
        self._file_order: list[str] = []

    # ----------------------------------------------------------------- files

    def may_look(self, path: Path) -> bool:
        """The host-path policy, for a file the stack names (the command line's are allowed)."""
        return path in self.named_files or self.host_paths.allows(path)

    def check_host_path(
        self, path: Path, node: Node, where: tuple[PathElement, ...], what: str
    ) -> None:
        """Refuse, located at `node`, a file outside the repository in untrusted mode: before
        anything looks at it."""
        if not self.may_look(path):
            raise located_error(
                node,
                where,
                self.host_paths.refusal(what, self.display(path), path),
                hint=REFUSAL_HINT,
            )

    def _guard(self, path: Path, display: str) -> None:
        # The last line of the policy, for reads no caller located: nothing outside is opened.
        if not self.may_look(path):
            raise StackFileError(self.host_paths.refusal("file", display, path), hint=REFUSAL_HINT)

    def read(self, path: Path, display: str, missing: str = "stack file not found") -> str:
        if path in self.texts:
            return self.texts[path]
        self._guard(path, display)
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
        self.texts[path] = text
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
            if not self.may_look(directory):
                break  # untrusted: the search stops at the repository's top
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
        self._guard(path, self.display(path))
        if self.options.read_text is not None:
            try:
                self.options.read_text(path)
            except (OSError, KeyError, ValueError):
                return False
            return True
        # A FIFO, device or directory "exists": `read` then says what it is instead of
        # "not found". So does a path the system refuses to look up (a name too long, a
        # component that is a file): `read` reports the OSError, located.
        try:
            return path.exists()
        except OSError:
            return True

    # ----------------------------------------------------------------- the pipeline

    def run(self) -> LoadedStack:
        try:
            try:
                return self._run()
            except StackFileError as exc:
                if not self.deferred or isinstance(exc, StackFileProblems):
                    raise  # no short form was bad, or the problems already include them
                # A later step (include, extends, profiles) stopped: say that and the short
                # forms.
                raise combine([*self.deferred, exc], self._file_order) from None
        except StackupError as exc:
            # Whatever an error site quoted, a value built from a secret never leaves.
            exc.conceal(self.secret_values)
            raise

    def _run(self) -> LoadedStack:
        if self.options.untrusted:
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
            self.host_paths = HostPaths.for_project(start, links=links)
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
        self.check_object_files(doc)
        self.apply_env_files(doc, lookup)
        self.apply_label_files(doc)
        name = self.project_name(doc, project_dir, chain(self.environ, dotenv))
        doc.mapping()["name"] = name
        doc.mapping().pop("include", None)

        source = SourceMap()
        data = to_plain(doc, source)
        stack = validate_stack(data, source, self._file_order, self.deferred)
        from stackup.loading.consistency import consistency_problems
        from stackup.loading.references import reference_problems

        tainted = frozenset(p for p, m in source.values.items() if m in self.tainted_marks)
        stack.mark_tainted(tainted, frozenset(self.secret_values))

        found = [*reference_problems(stack, source), *consistency_problems(stack, source)]
        if found:
            raise combine(found, self._file_order)
        return LoadedStack(
            stack=stack,
            source=source,
            files=tuple(self.read_files),
            project_directory=project_dir,
            extensions=_extensions(data),
            host_paths=self.host_paths,
            unset_variables=tuple(
                sorted(
                    name
                    for name in self.withheld - self.defined
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
                    self.check_host_path(Path(node.value), node, (kind, key, "file"), what)

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
            self.defined.update(env)
            return env
        path = project_dir / ".env"
        if self._exists(path):
            text = self.read(path, self.display(path))
            env = parse_env_text(text, self.display(path), chain(self.environ))
        self.defined.update(env)
        return env

    def raw_document(
        self, path: Path, display: str, lookup: Callable[[str], str | None], base: str
    ) -> Node:
        """A file parsed, interpolated, normalised and with paths made absolute."""
        text = self.read(path, display)
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

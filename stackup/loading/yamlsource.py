"""YAML read as Compose v2 reads it (YAML 1.2 core schema, as go-yaml v3 does), into a tree of
`Node`s that remember where each key and value came from.

Why our own resolver: PyYAML implements YAML 1.1, where `yes`/`no`/`on`/`off` are booleans and
an unquoted `80:80` is a base-60 integer (4880). Compose v2 reads both as strings, and so do we.

Why a tree of nodes rather than plain data: merges, `extends` and `include` move values from
one place to another; each value carries its mark along, so errors found after all that still
point at the line the user wrote. `to_plain` turns the tree into plain data plus a `SourceMap`.

Alias expansion is counted before anything is built: a few hundred bytes of nested aliases
("billion laughs") would otherwise expand into billions of nodes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from stackup.errors import PathElement, StackFileError, YamlSyntaxError
from stackup.loading.source import Mark, SourceMap

MAX_NODES = 1_000_000
"""Cap on the number of nodes a document may expand to through aliases."""
MAX_EXPANDED_BYTES = 16 << 20
"""Cap on the characters of scalars a document with aliases expands to: few nodes may hold a
lot of text (a 1 MB anchor used 2,000 times is 2 GB), 16 times the largest files measured."""

Scalar = str | int | float | bool | None

RESET = "reset"
OVERRIDE = "override"


class Node:
    """A value with the mark of where it starts and of the key that names it.

    `value` is `dict[str, Node]`, `list[Node]`, or a scalar. `tag` is `reset` or `override`
    for Compose's `!reset` / `!override` merge tags, else None.
    """

    __slots__ = ("key_mark", "mark", "tag", "value")

    def __init__(
        self,
        value: Any,
        mark: Mark | None = None,
        key_mark: Mark | None = None,
        tag: str | None = None,
    ) -> None:
        self.value = value
        self.mark = mark
        self.key_mark = key_mark
        self.tag = tag

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Node({self.value!r})"

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    def mapping(self) -> dict[str, Node]:
        assert isinstance(self.value, dict)
        return self.value

    def sequence(self) -> list[Node]:
        assert isinstance(self.value, list)
        return self.value

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def copy(self) -> Node:
        """A deep copy (extends and include reuse a service definition more than once)."""
        value: Any = self.value
        if isinstance(value, dict):
            value = {k: v.copy() for k, v in value.items()}
        elif isinstance(value, list):
            value = [v.copy() for v in value]
        return Node(value, self.mark, self.key_mark, self.tag)


def node_from_plain(value: Any, mark: Mark | None, key_mark: Mark | None = None) -> Node:
    """Wrap plain data (a parsed short form) in nodes that all carry `mark`."""
    if isinstance(value, dict):
        return Node(
            {str(k): node_from_plain(v, mark, mark) for k, v in value.items()}, mark, key_mark
        )
    if isinstance(value, list):
        return Node([node_from_plain(v, mark) for v in value], mark, key_mark)
    return Node(value, mark, key_mark)


def to_plain(node: Node, source: SourceMap, path: tuple[PathElement, ...] = ()) -> Any:
    """Plain data for the models, recording every mark in `source` by path."""
    if node.mark is not None:
        source.values[path] = node.mark
    if node.key_mark is not None:
        source.keys[path] = node.key_mark
    value = node.value
    if isinstance(value, dict):
        return {k: to_plain(v, source, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v, source, (*path, i)) for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------------- resolver


class _CoreResolver(yaml.resolver.BaseResolver):
    """Implicit types of the YAML 1.2 core schema, with go-yaml v3's integer forms."""


_STR = "tag:yaml.org,2002:str"
# First characters that can start a non-string plain scalar in the core schema.
_TYPED_FIRST = frozenset("tTfFnN~0123456789+-.<")


def _fast_resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
    # Most scalars are plain words; skip the regular-expression walk for them.
    if kind is ScalarNode and implicit[0] and value and value[0] not in _TYPED_FIRST:
        return _STR
    return yaml.resolver.BaseResolver.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]


_CoreResolver.resolve = _fast_resolve  # type: ignore[method-assign]
_CoreResolver.yaml_implicit_resolvers = {}
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$"),
    list("-+0123456789"),
)
_CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])

_RESOLVER = _CoreResolver()
_CParser: Any
try:  # libyaml's parser is ten times faster; the pure-Python one is the fallback
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _CParser = None

if _CParser is not None:

    class _Composer(_CParser, _CoreResolver):  # type: ignore[misc]
        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)
            _CoreResolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml

    class _Composer(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _CoreResolver,
    ):
        def __init__(self, text: str) -> None:
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _CoreResolver.__init__(self)


# --------------------------------------------------------------------------- reading


def parse(text: str, filename: str) -> Node | None:
    """Parse one YAML document; None for an empty one."""
    try:
        composer = _Composer(text)
        try:
            root = composer.get_single_node()
        finally:
            composer.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at_end = mark is not None and mark.index >= len(text.rstrip())
        if exc.context_mark is not None and at_end:
            # "never closed": the opening quote or bracket is where the mistake is.
            mark = exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise YamlSyntaxError(
            f"invalid YAML: {message}",
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", file=filename) from None
    except (RecursionError, MemoryError):
        raise YamlSyntaxError(
            "invalid YAML: the document is nested too deeply", file=filename
        ) from None
    except UnicodeError:  # lone surrogates from a reader that decoded with surrogateescape
        raise YamlSyntaxError("the file is not valid UTF-8 text", file=filename) from None
    if root is None:
        return None
    builder = _Builder(filename)
    try:
        if "*" in text:  # without aliases nothing can expand
            builder.count(root)
        return builder.build(root, None)
    except RecursionError:
        raise YamlSyntaxError("the document is nested too deeply", file=filename) from None


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sizes: dict[int, tuple[int, int]] = {}

    def mark(self, node: yaml.Node) -> Mark:
        m = node.start_mark
        return Mark(self.filename, m.line + 1, m.column + 1)

    def fail(
        self, node: yaml.Node, message: str, cls: type[StackFileError] = YamlSyntaxError
    ) -> StackFileError:
        m = self.mark(node)
        return cls(message, file=m.file, line=m.line, column=m.column)

    # The expanded size of each node (nodes, characters of scalars), memoised by identity:
    # aliases share node objects, so this costs one visit per distinct node however large the
    # expansion is.
    def count(self, root: yaml.Node) -> tuple[int, int]:
        in_progress: set[int] = set()

        def size(node: yaml.Node) -> tuple[int, int]:
            key = id(node)
            known = self.sizes.get(key)
            if known is not None:
                return known
            if key in in_progress:
                raise self.fail(
                    node, "an alias refers to the node that contains it (recursive anchor)"
                )
            in_progress.add(key)
            nodes, chars = 1, 0
            if isinstance(node, MappingNode | SequenceNode):
                children = (
                    [c for pair in node.value for c in pair]
                    if isinstance(node, MappingNode)
                    else node.value
                )
                for child in children:
                    n, c = size(child)
                    nodes, chars = nodes + n, chars + c
                    if nodes > MAX_NODES or chars > MAX_EXPANDED_BYTES:
                        break
            else:
                chars = len(node.value)
            in_progress.discard(key)
            self.sizes[key] = (nodes, chars)
            if nodes > MAX_NODES:
                raise self.fail(
                    node,
                    f"the document expands to more than {MAX_NODES:,} nodes through aliases "
                    '(a "billion laughs" file?); refusing to load it',
                    StackFileError,
                )
            if chars > MAX_EXPANDED_BYTES:
                raise self.fail(
                    node,
                    f"the document expands to more than {MAX_EXPANDED_BYTES >> 20} MiB of text "
                    "through aliases (an anchor holding much text, used many times); refusing "
                    "to load it",
                    StackFileError,
                )
            return nodes, chars

        return size(root)

    def build(self, node: yaml.Node, key_mark: Mark | None) -> Node:
        tag = node.tag
        merge_tag: str | None = None
        if tag in ("!reset", "!override"):
            merge_tag = RESET if tag == "!reset" else OVERRIDE
        if isinstance(node, MappingNode):
            out = Node(self.mapping(node), self.mark(node), key_mark, merge_tag)
        elif isinstance(node, SequenceNode):
            out = Node(
                [self.build(item, None) for item in node.value],
                self.mark(node),
                key_mark,
                merge_tag,
            )
        else:
            assert isinstance(node, ScalarNode)
            out = Node(self.scalar(node), self.mark(node), key_mark, merge_tag)
        return out

    def mapping(self, node: MappingNode) -> dict[str, Node]:
        own: dict[str, Node] = {}
        merged: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.merge_into(merged, value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(
                    key_node, "a mapping key must be a plain value, not a list or mapping"
                )
            key = key_node.value
            if key in own:
                first = own[key].key_mark
                where = f" (first at line {first.line})" if first else ""
                raise self.fail(key_node, f'duplicate key "{key}"{where}')
            own[key] = self.build(value_node, self.mark(key_node))
        if not merged:
            return own
        return {**merged, **own}

    def merge_into(self, merged: dict[str, Node], value_node: yaml.Node) -> None:
        """`<<: *base` or `<<: [*a, *b]`: keys already present win (earlier sources first)."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.fail(source, "a `<<` merge key needs a mapping or a list of mappings")
            for key, child in self.mapping(source).items():
                merged.setdefault(key, child)

    def scalar(self, node: ScalarNode) -> Scalar:
        tag = node.tag
        text: str = node.value
        if tag == _STR:
            return text
        if tag in ("!reset", "!override", "!"):
            tag = _RESOLVER.resolve(ScalarNode, text, (node.style is None, False))  # type: ignore[no-untyped-call]
            if node.style is not None:
                tag = "tag:yaml.org,2002:str"
        if not tag.startswith("tag:yaml.org,2002:") or tag.endswith(
            ("binary", "timestamp", "set", "omap", "pairs", "value", "yaml")
        ):
            raise self.fail(node, f"unsupported YAML tag {node.tag}")
        try:
            return _construct(tag, text)
        except ValueError:
            raise self.fail(node, f'invalid {tag.rsplit(":", 1)[-1]} value "{text}"') from None


def _construct(tag: str, text: str) -> Scalar:
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag == "tag:yaml.org,2002:null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise ValueError(text)
        return None
    if tag == "tag:yaml.org,2002:bool":
        low = text.lower()
        if low not in ("true", "false"):
            raise ValueError(text)
        return low == "true"
    if tag == "tag:yaml.org,2002:int":
        return _int(text)
    if tag == "tag:yaml.org,2002:float":
        clean = text.replace("_", "")
        low = clean.lower()
        if low.endswith(".inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return math.nan
        return float(clean)
    if tag == "tag:yaml.org,2002:merge":
        return text
    raise ValueError(f"unsupported tag {tag}")


def _int(text: str) -> int:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    body = clean.lstrip("+-")
    if body.startswith("0o"):
        return sign * int(body[2:], 8)
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    if body.startswith("0b"):
        return sign * int(body[2:], 2)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)  # go-yaml v3: a leading 0 is octal (`mode: 0440`)
    return sign * int(body)

"""Agreement with compose-go (Docker Compose v2), case by case, per area.

Each table row is one behaviour that compose-go documents in its own tests (template, dotenv
and override packages) or in the Compose Specification, written here from that description:
an input and the result compose-go gives, or `ERROR` where it rejects the input. The tables
are also the measurement behind docs/compose-compatibility.md: `pytest -rA` on this file, run
on two revisions, counts the cases each agrees on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackup.errors import StackupError
from stackup.loading.envfile import parse_env_text
from stackup.loading.interpolate import TemplateError, interpolate
from stackup.loading.loader import LoadOptions, load

ERROR = object()

# --------------------------------------------------------------------------- interpolation

# compose-go's template tests use FOO=first and an empty BAR.
TEMPLATE_ENV = {"FOO": "first", "BAR": ""}

INTERPOLATION: list[tuple[str, object]] = [
    ("$${foo}", "${foo}"),
    ("foo", "foo"),
    ("a $ string", "a $ string"),
    ("^REGEX$", "^REGEX$"),
    ("$}", "$}"),
    ("$", "$"),
    ("5$", "5$"),
    ("sh -c 'echo $(date)'", "sh -c 'echo $(date)'"),
    ("cost: $1", "cost: $1"),
    ("${", ERROR),
    ("${}", ERROR),
    ("${ }", ERROR),
    ("${ foo}", ERROR),
    ("${foo }", ERROR),
    ("${foo!}", ERROR),
    ("$FOO-bar", "first-bar"),
    ("This ${missing} var", "This  var"),
    ("This ${BAR} var", "This  var"),
    ("This $FOO var", "This first var"),
    ("This ${FOO} var", "This first var"),
    ("ok ${missing:-def}", "ok def"),
    ("ok ${missing-def}", "ok def"),
    ("ok ${BAR:-def}", "ok def"),
    ("ok ${FOO:-def}", "ok first"),
    ("ok ${BAR-def}", "ok "),
    ("ok ${UNSET_VAR:+presence_value}", "ok "),
    ("ok ${UNSET_VAR+presence_value}", "ok "),
    ("ok ${FOO:+presence_value}", "ok presence_value"),
    ("ok ${FOO+presence_value}", "ok presence_value"),
    ("ok ${BAR+presence_value}", "ok presence_value"),
    ("ok ${BAR:+presence_value}", "ok "),
    ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
    ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
    ("ok ${UNSET_VAR-$FOO}", "ok first"),
    ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
    ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
    ("not ok ${UNSET_VAR:?Mandatory Variable Unset}", ERROR),
    ("not ok ${BAR:?Mandatory Variable Empty}", ERROR),
    ("not ok ${UNSET_VAR?}", ERROR),
    ("ok ${FOO:?err}", "ok first"),
    ("ok ${BAR?err}", "ok "),
    ("${UNSET_VAR?bar-baz}", ERROR),
    ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
    ('${JSON:-{"json":1}}', '{"json":1}'),
    ('${FOO:-{"json":1}}', "first"),
    ('${FOO:+{"a":{"b":1}}}', '{"a":{"b":1}}'),
    ("${FOO}bar$BAR-$$FOO", "firstbar-$FOO"),
]


def _interpolated(text: str) -> object:
    try:
        return interpolate(text, TEMPLATE_ENV.get)
    except TemplateError:
        return ERROR


@pytest.mark.parametrize(("text", "expected"), INTERPOLATION, ids=[c[0] for c in INTERPOLATION])
def test_interpolation_agrees_with_compose_go(text: str, expected: object) -> None:
    assert _interpolated(text) == expected


# --------------------------------------------------------------------------- .env

DOTENV_ENV = {"OUTER": "from-shell"}

DOTENV: list[tuple[str, str, object]] = [
    ("plain", "FOO=bar", {"FOO": "bar"}),
    ("spaces around =", "FOO = bar", {"FOO": "bar"}),
    ("double quotes", 'FOO="bar"', {"FOO": "bar"}),
    ("single quotes", "FOO='bar'", {"FOO": "bar"}),
    ("escaped double quote", 'FOO="escaped\\"bar"', {"FOO": 'escaped"bar'}),
    ("single inside double", "FOO=\"'d'\"", {"FOO": "'d'"}),
    ("newline escape", 'FOO="bar\\nbaz"', {"FOO": "bar\nbaz"}),
    ("dotted key", "FOO.BAR=foobar", {"FOO.BAR": "foobar"}),
    ("dashed key", "FOO-BAR=x", {"FOO-BAR": "x"}),
    ("indexed key", "a[1]=c", {"a[1]": "c"}),
    ("unicode key", "árvíz=tükör", {"árvíz": "tükör"}),
    ("digit-leading key", "1FOO=x", {"1FOO": "x"}),
    ("hash in double quotes", 'FOO="bar#baz" # comment', {"FOO": "bar#baz"}),
    ("hash in single quotes", "FOO='bar#baz' # comment", {"FOO": "bar#baz"}),
    ("hash inside word", "FOO=bar#baz", {"FOO": "bar#baz"}),
    ("inline comment", "FOO=bar # this is foo", {"FOO": "bar"}),
    ("export prefix", "export OPTION_A=2", {"OPTION_A": "2"}),
    ("yaml-style colon", "FOO: bar", {"FOO": "bar"}),
    ("yaml-style colon, no space", "FOO:bar", {"FOO": "bar"}),
    ("escaped quote in single quotes", "FOO='it\\'s'", {"FOO": "it's"}),
    ("backslash kept in single quotes", "FOO='a\\nb'", {"FOO": "a\\nb"}),
    ("bell, backspace, form feed, vtab", 'FOO="\\a\\b\\f\\v"', {"FOO": "\a\b\f\v"}),
    ("tab escape", 'FOO="a\\tb"', {"FOO": "a\tb"}),
    ("unknown escape kept", 'FOO="\\c"', {"FOO": "\\c"}),
    ("escaped dollar", 'FOO="a\\$OUTER"', {"FOO": "a$OUTER"}),
    ("double dollar", "FOO=$$OUTER", {"FOO": "$OUTER"}),
    ("octal escape", 'FOO="\\0101"', {"FOO": "A"}),
    ("UTF-8 BOM", "\ufeffFOO=bar", {"FOO": "bar"}),
    ("CRLF line ends", "FOO=bar\r\nBAZ=qux\r\n", {"FOO": "bar", "BAZ": "qux"}),
    ("inherited from shell", "OUTER", {"OUTER": "from-shell"}),
    ("inherited but unset", "NOPE", {}),
    ("earlier line", "A=1\nB=${A}2", {"A": "1", "B": "12"}),
    ("shell variable", "B=$OUTER", {"B": "from-shell"}),
    ("default", "B=${UNSET:-def}", {"B": "def"}),
    ("no interpolation in single quotes", "B='${OUTER}'", {"B": "${OUTER}"}),
    ("multi-line double quotes", 'FOO="a\nb"', {"FOO": "a\nb"}),
    ("multi-line single quotes", "FOO='a\nb'", {"FOO": "a\nb"}),
    ("trailing spaces trimmed", "FOO=bar   ", {"FOO": "bar"}),
    ("empty value", "FOO=", {"FOO": ""}),
    ("comment lines", "# comment\n\nFOO=bar\n  # indented", {"FOO": "bar"}),
    ("bad character in key", "%!(EXTRA string)=foo", ERROR),
    ("space in key", "KEY WITH SPACE=x", ERROR),
    ("unterminated quote", 'FOO="bar', ERROR),
    ("bare $ passes through", "FOO=5$", {"FOO": "5$"}),
]


def _parsed(text: str) -> object:
    try:
        return parse_env_text(text, ".env", DOTENV_ENV.get)
    except StackupError:
        return ERROR


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DOTENV], ids=[c[0] for c in DOTENV])
def test_dotenv_agrees_with_compose_go(text: str, expected: object) -> None:
    assert _parsed(text) == expected


# --------------------------------------------------------------------------- merge


def _load(tmp_path: Path, base: str, over: str) -> Any:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "over.yaml").write_text(over)
    loaded = load(
        LoadOptions(
            files=(Path("base.yaml"), Path("over.yaml")),
            working_dir=tmp_path,
            environ={},
            project_name="t",
        )
    )
    return loaded.stack


def _svc(body: str) -> str:
    return "services:\n  web:\n" + "".join(f"    {line}\n" for line in body.splitlines())


MERGE: list[tuple[str, str, str, Any]] = [
    (
        "build without context keeps the base context",
        _svc("build: ./app"),
        _svc("build: {dockerfile: Other.Dockerfile}"),
        lambda s, d: (
            s.services["web"].build.context == str(d / "app")
            and s.services["web"].build.dockerfile == "Other.Dockerfile"
        ),
    ),
    (
        "build string replaces the context",
        _svc("build: ./app"),
        _svc("build: ."),
        lambda s, d: s.services["web"].build.context == str(d),
    ),
    (
        "scalars replaced",
        _svc("image: a"),
        _svc("image: b"),
        lambda s, d: s.services["web"].image == "b",
    ),
    (
        "command replaced, not appended",
        _svc("image: a\ncommand: [a, b]"),
        _svc("command: [c]"),
        lambda s, d: s.services["web"].command == ["c"],
    ),
    (
        "environment merged by key",
        _svc("image: a\nenvironment: [A=1, B=2]"),
        _svc("environment: {B: '3', C: '4'}"),
        lambda s, d: s.services["web"].environment == {"A": "1", "B": "3", "C": "4"},
    ),
    (
        "labels list and map merged",
        _svc("image: a\nlabels: [a=1, b=2]"),
        _svc("labels: {b: '3'}"),
        lambda s, d: s.services["web"].labels == {"a": "1", "b": "3"},
    ),
    (
        "network labels list and map merged",
        "services: {web: {image: a}}\nnetworks:\n  n:\n    labels: [a=1]\n",
        "networks:\n  n:\n    labels: {b: '2'}\n",
        lambda s, d: s.networks["n"].labels == {"a": "1", "b": "2"},
    ),
    (
        "volume labels map and list merged",
        "services: {web: {image: a}}\nvolumes:\n  v:\n    labels: {a: '1'}\n",
        "volumes:\n  v:\n    labels: [b=2]\n",
        lambda s, d: s.volumes["v"].labels == {"a": "1", "b": "2"},
    ),
    (
        "additional_contexts list and map merged",
        _svc("build:\n  context: ./app\n  additional_contexts: [a=docker-image://a]"),
        _svc("build:\n  additional_contexts: {b: docker-image://b}"),
        lambda s, d: (
            s.services["web"].build.additional_contexts
            == {"a": "docker-image://a", "b": "docker-image://b"}
        ),
    ),
    (
        "build args list and map merged",
        _svc("build:\n  context: ./app\n  args: [A=1]"),
        _svc("build:\n  args: {B: '2'}"),
        lambda s, d: s.services["web"].build.args == {"A": "1", "B": "2"},
    ),
    (
        "logging: same driver merges options",
        _svc("image: a\nlogging: {driver: json-file, options: {max-size: 1m}}"),
        _svc("logging: {driver: json-file, options: {max-file: '3'}}"),
        lambda s, d: s.services["web"].logging.options == {"max-size": "1m", "max-file": "3"},
    ),
    (
        "logging: changed driver drops old options",
        _svc("image: a\nlogging: {driver: json-file, options: {max-size: 1m}}"),
        _svc("logging: {driver: syslog, options: {syslog-address: 'udp://1.2.3.4:514'}}"),
        lambda s, d: s.services["web"].logging.options == {"syslog-address": "udp://1.2.3.4:514"},
    ),
    (
        "logging: no driver in override merges options",
        _svc("image: a\nlogging: {driver: json-file, options: {max-size: 1m}}"),
        _svc("logging: {options: {max-file: '3'}}"),
        lambda s, d: (
            s.services["web"].logging.driver == "json-file"
            and s.services["web"].logging.options == {"max-size": "1m", "max-file": "3"}
        ),
    ),
    (
        "ipam pools merged by subnet",
        "services: {web: {image: a}}\nnetworks:\n  n:\n    ipam:\n      config:\n"
        "        - {subnet: 10.1.0.0/16, gateway: 10.1.0.1}\n",
        "networks:\n  n:\n    ipam:\n      config:\n"
        "        - {subnet: 10.1.0.0/16, gateway: 10.1.0.254}\n"
        "        - {subnet: 10.2.0.0/16}\n",
        lambda s, d: (
            [(p.subnet, p.gateway) for p in s.networks["n"].ipam.config]
            == [("10.1.0.0/16", "10.1.0.254"), ("10.2.0.0/16", None)]
        ),
    ),
    (
        "devices de-duplicated by target",
        _svc("image: a\ndevices: ['/dev/a:/dev/x']"),
        _svc("devices: ['/dev/b:/dev/x', '/dev/c:/dev/y']"),
        lambda s, d: s.services["web"].devices == ["/dev/b:/dev/x", "/dev/c:/dev/y"],
    ),
    (
        "secrets de-duplicated by target",
        _svc("image: a\nsecrets: [{source: one, target: /run/secrets/app}]")
        + "secrets:\n  one: {file: ./one}\n  two: {file: ./two}\n",
        _svc("secrets: [{source: two, target: /run/secrets/app}]"),
        lambda s, d: (
            [(r.source, r.target) for r in s.services["web"].secrets]
            == [("two", "/run/secrets/app")]
        ),
    ),
    (
        "secrets with the same source and different targets both kept",
        _svc("image: a\nsecrets: [{source: one, target: /a}]") + "secrets:\n  one: {file: ./one}\n",
        _svc("secrets: [{source: one, target: /b}]"),
        lambda s, d: [r.target for r in s.services["web"].secrets] == ["/a", "/b"],
    ),
    (
        "ports unique",
        _svc("image: a\nports: ['8080:80']"),
        _svc("ports: ['8080:80', '9090:90']"),
        lambda s, d: [p.published for p in s.services["web"].ports] == ["8080", "9090"],
    ),
    (
        "volumes by target",
        _svc("image: a\nvolumes: ['./a:/data']"),
        _svc("volumes: ['./b:/data']"),
        lambda s, d: [v.source for v in s.services["web"].volumes] == [str(d / "b")],
    ),
    (
        "depends_on list and map merged",
        _svc("image: a\ndepends_on: [db]") + "  db: {image: b}\n  cache: {image: c}\n",
        _svc("depends_on: {cache: {condition: service_started}}"),
        lambda s, d: sorted(s.services["web"].depends_on) == ["cache", "db"],
    ),
    (
        "dns appended without repeats",
        _svc("image: a\ndns: [1.1.1.1]"),
        _svc("dns: [1.1.1.1, 8.8.8.8]"),
        lambda s, d: s.services["web"].dns == ["1.1.1.1", "8.8.8.8"],
    ),
    (
        "ulimits merged",
        _svc("image: a\nulimits: {nofile: {soft: 1, hard: 2}, nproc: 5}"),
        _svc("ulimits: {nofile: {soft: 3, hard: 4}}"),
        lambda s, d: (
            (s.services["web"].ulimits["nofile"].soft, s.services["web"].ulimits["nproc"].soft)
            == (3, 5)
        ),
    ),
]


@pytest.mark.parametrize(
    ("base", "over", "check"), [c[1:] for c in MERGE], ids=[c[0] for c in MERGE]
)
def test_merge_agrees_with_compose_go(tmp_path: Path, base: str, over: str, check: Any) -> None:
    assert check(_load(tmp_path, base, over), tmp_path)

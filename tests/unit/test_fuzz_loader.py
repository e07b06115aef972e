"""Random and mutated stack files: the loader returns a stack or raises a `StackupError`,
never anything else (no KeyError, TypeError, RecursionError, ... and no hang)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackup.errors import StackupError
from stackup.loading.loader import LoadedStack, load_text

GOOD = Path(__file__).resolve().parent.parent / "fixtures" / "good"
SEEDS = [p.read_text() for p in sorted(GOOD.glob("*.yaml"))]
PER_EXAMPLE_SECONDS = 10

TOKENS = [
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!reset ",
    "!override ",
    "\n",
    "  ",
    "\t",
    '"',
    "'",
    "#",
    "$",
    "${",
    "${X:?}",
    "}",
    "$$",
    "~",
    "null",
    "true",
    "no",
    "0x1F",
    "80:80",
    "1m30s",
    "512m",
    "services:",
    "image:",
    "ports:",
    "volumes:",
    "environment:",
    "depends_on:",
    "extends:",
    "include:",
    "profiles:",
    "networks:",
    "build:",
    "healthcheck:",
    "x-stackup:",
    "\u00e9",
    "\x00",
    "---\n",
    "? ",
    "|\n",
    ">\n",
    "0o17",
    "-1",
    "1e400",
]
KEYS = [
    "image",
    "build",
    "ports",
    "volumes",
    "environment",
    "env_file",
    "depends_on",
    "networks",
    "healthcheck",
    "command",
    "entrypoint",
    "restart",
    "labels",
    "deploy",
    "extends",
    "profiles",
    "secrets",
    "configs",
    "develop",
    "x-stackup",
    "ulimits",
    "tmpfs",
    "dns",
    "network_mode",
    "volumes_from",
    "mem_limit",
    "stop_grace_period",
    "extra_hosts",
]

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["80:80", "./a:/b:ro", "${X}", "1m", "service:web", "web", "on-failure:3"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=4
        ),
    ),
    max_leaves=20,
)


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"loading took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(text: str) -> None:
    with time_limit(PER_EXAMPLE_SECONDS):
        try:
            result = load_text(text, "fuzz.yaml", working_dir=GOOD, environ={}, project_name="fuzz")
        except StackupError as exc:
            assert str(exc)
            return
    assert isinstance(result, LoadedStack)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not text:
            break
        pos = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "token", "line"]))
        if op == "delete":
            end = min(len(text), pos + draw(st.integers(min_value=1, max_value=8)))
            text = text[:pos] + text[end:]
        elif op == "insert":
            text = text[:pos] + draw(st.text(max_size=4)) + text[pos:]
        elif op == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
        elif op == "token":
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines.insert(j, lines[i])
            text = "\n".join(lines)
    return text


@st.composite
def random_service_values(draw: st.DrawFn) -> str:
    """A good fixture with one service key set to a random YAML value."""
    seed = yaml.safe_load(draw(st.sampled_from(SEEDS[:6])))
    services = seed.get("services") or {}
    if services:
        name = draw(st.sampled_from(sorted(services)))
        key = draw(st.sampled_from(KEYS))
        services[name][key] = draw(yaml_values)
    return yaml.safe_dump(seed, allow_unicode=True)


SETTINGS = settings(
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(mutated())
def test_mutated_fixtures(text: str) -> None:
    check(text)


@SETTINGS
@given(random_service_values())
def test_random_values_for_service_keys(text: str) -> None:
    check(text)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@settings(deadline=None, max_examples=200)
@given(yaml_values)
def test_random_documents(value: Any) -> None:
    check(yaml.safe_dump({"services": {"web": value}}, allow_unicode=True))
    check(yaml.safe_dump(value, allow_unicode=True))

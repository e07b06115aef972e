"""Each interpolation form, and Compose's .env format."""

from __future__ import annotations

import pytest

from stackup.errors import StackFileError
from stackup.loading.envfile import parse_env_text
from stackup.loading.interpolate import TemplateError, interpolate

ENV = {"SET": "value", "EMPTY": "", "B": "bee"}


def sub(text: str) -> str:
    return interpolate(text, ENV.get)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b", "avalueb"),
        ("$SET.txt", "value.txt"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${SET:-dflt}", "value"),
        ("${UNSET-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?boom}", "value"),
        ("${EMPTY?boom}", ""),
        ("$$", "$"),
        ("$${SET}", "${SET}"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-${B}}", "bee"),
        ("${UNSET:-${ALSO_UNSET:-x}}", "x"),
        ("${UNSET:-a ${B} c}", "a bee c"),
        ("${UNSET:-{}}", "{}"),
        ("${UNSET:-$$}", "$"),
        ("${SET:-${NOT_EVALUATED:?never}}", "value"),
        ("${UNSET:-}", ""),
    ],
)
def test_forms(text: str, expected: str) -> None:
    assert sub(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET:?needs a value}", "required variable UNSET is missing a value: needs a value"),
        ("${EMPTY:?no empties}", "required variable EMPTY is missing a value: no empties"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
        ("${UNSET:?${B} missing}", "bee missing"),
    ],
)
def test_required(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        sub(text)
    assert message in info.value.message
    assert info.value.required


@pytest.mark.parametrize(
    "text", ["${", "${SET", "${}", "${1X}", "${SET%x}", "${ SET}", "${SET:-${B}"]
)
def test_bad_format(text: str) -> None:
    with pytest.raises(TemplateError) as info:
        sub(text)
    assert "invalid interpolation format" in info.value.message


def test_env_file_format() -> None:
    text = (
        "# comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "SPACED = padded  \n"
        "INLINE=abc # trailing comment\n"
        "HASH=abc#def\n"
        "SINGLE='literal ${PLAIN} \\n'\n"
        'DOUBLE="escaped\\tand ${PLAIN}"\n'
        'MULTI="line one\n'
        'line two"\n'
        "REF=${PLAIN}-${OUTER}\n"
        "EMPTY=\n"
        "FROMENV\n"
        "MISSINGENV\n"
    )
    env = parse_env_text(text, ".env", {"OUTER": "out", "FROMENV": "here"}.get)
    assert env == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "INLINE": "abc",
        "HASH": "abc#def",
        "SINGLE": "literal ${PLAIN} \\n",
        "DOUBLE": "escaped\tand value",
        "MULTI": "line one\nline two",
        "REF": "value-out",
        "EMPTY": "",
        "FROMENV": "here",
    }


def test_env_file_environment_wins_in_references() -> None:
    env = parse_env_text("A=file\nB=${A}\n", ".env", {"A": "os"}.get)
    assert env["B"] == "os"


@pytest.mark.parametrize(
    ("text", "line"),
    [("A=1\nnot valid\n", 2), ('A=1\nB="open\nC=2\n', 2), ("A=${\n", 1), ("=x\n", 1)],
)
def test_env_file_errors_have_lines(text: str, line: int) -> None:
    with pytest.raises(StackFileError) as info:
        parse_env_text(text, "x.env")
    assert info.value.file == "x.env" and info.value.line == line


@pytest.mark.parametrize(
    "text", ["$", "5$", "$ x", "^REGEX$", "sh -c 'echo $(date)'", "$1 a head", "$}"]
)
def test_a_dollar_that_starts_no_variable_is_kept(text: str) -> None:
    assert sub(text) == text


def test_braces_in_a_default_balance() -> None:
    assert sub('${UNSET:-{"json":1}}') == '{"json":1}'
    assert sub('${SET:-{"json":1}}') == "value"
    assert sub('${SET:+{"a":{"b":"${B}"}}}') == '{"a":{"b":"bee"}}'


def test_raw_format_takes_values_as_written() -> None:
    text = "\ufeffA='quoted' # not a comment\n# comment\n  B=$HOME ${X}\nSET\nNOPE\nC=\\n\n"
    assert parse_env_text(text, "raw.env", ENV.get, raw=True) == {
        "A": "'quoted' # not a comment",
        "B": "$HOME ${X}",
        "SET": "value",
        "C": "\\n",
    }
    with pytest.raises(StackFileError):
        parse_env_text("BAD KEY=1", "raw.env", raw=True)

"""Issue 21, item 8: every mistake in one run, each with a hint where one helps: dangling
references beside schema errors, "did you mean" for enumerations (never quoting a value built
from a secret variable), and a service setting at the wrong indentation."""

from __future__ import annotations

import pytest

from stackup.errors import StackupError
from stackup.loading.loader import load_text

SECRET = "Plant3dS3cretQx7"


def _reports(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(StackupError) as info:
        load_text(text, environ=environ or {})
    return info.value.reports()


def test_references_are_reported_with_schema_errors_of_other_services() -> None:
    reports = _reports(
        "services:\n"
        "  web:\n    image: nginx\n    depends_on: [dbb]\n    networks: [front]\n"
        "  db:\n    image: nginx\n    mem_limit: lots\n"
    )
    text = "\n".join(reports)
    assert 'depends on undefined service "dbb"' in text
    assert 'did you mean "db"?' in text
    assert 'network "front" is not defined' in text
    assert "services.db.mem_limit: invalid size" in text


def test_references_are_reported_with_schema_errors_of_the_same_service() -> None:
    reports = _reports(
        "services:\n"
        "  web:\n    image: nginx\n    restart: always-ish\n"
        "    depends_on: [nowhere]\n    secrets: [db_pw]\n    volumes: ['data:/d']\n"
    )
    heads = [r.splitlines()[0].split(": ")[1] for r in reports]
    assert heads == [
        "services.web.restart",
        "services.web.depends_on.nowhere",
        "services.web.secrets[0]",
        "services.web.volumes[0]",
    ]


def test_references_are_checked_when_a_top_level_table_is_wrong() -> None:
    reports = _reports(
        "services:\n  web:\n    image: nginx\n    networks: [back]\n"
        "networks:\n  front:\n    internal: maybe\n"
    )
    text = "\n".join(reports)
    assert "networks.front.internal" in text
    assert 'network "back" is not defined' in text


@pytest.mark.parametrize(
    ("line", "suggestion"),
    [
        ("restart: unles-stopped", "unless-stopped"),
        ("restart: alwys", "always"),
        ("pull_policy: misssing", "missing"),
        ("ports: [{target: 80, protocol: tpc}]", "tcp"),
    ],
)
def test_an_enumeration_gets_did_you_mean(line: str, suggestion: str) -> None:
    (report,) = _reports(f"services:\n  web:\n    image: nginx\n    {line}\n")
    assert f'hint: did you mean "{suggestion}"?' in report


def test_did_you_mean_never_quotes_a_secret_value() -> None:
    value = SECRET + "-unles-stopped"
    (report,) = _reports(
        "services:\n  web:\n    image: nginx\n    restart: ${DB_PASSWORD}\n",
        environ={"DB_PASSWORD": value},
    )
    assert "services.web.restart" in report and "expected a restart policy" in report
    assert SECRET not in report


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("services:\n  web:\n    image: nginx\n  ports:\n    - '8080:80'\n", "a service named"),
        ("services:\n  web:\n    image: nginx\n  restart: always\n", "a service named"),
        ("services:\n  web:\n    image: nginx\n  environment:\n    A: b\n", "a service named"),
        ("services:\n  web:\n    image: nginx\nports:\n  - '8080:80'\n", "a top-level key"),
    ],
)
def test_a_dedented_setting_gets_an_indentation_hint(text: str, where: str) -> None:
    report = _reports(text)[0]
    assert "check its indentation" in report and where in report


def test_a_real_unknown_key_gets_no_indentation_hint() -> None:
    report = _reports("services:\n  web:\n    image: nginx\nbogus: 1\n")[0]
    assert "indentation" not in report

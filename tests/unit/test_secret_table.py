"""The one table of secret recognition (stackup.model.sensitive), and its users: config's
whole document, errors, lint and import."""

from __future__ import annotations

import pytest

from stackup.cli.config_cmd import resolved_document
from stackup.errors import StackupError
from stackup.loading.loader import load_text
from stackup.model.sensitive import redact_text, secret_shape

SECRET = "Plant3dS3cretQx7"


@pytest.mark.parametrize(
    "value",
    [
        f"postgres://app:{SECRET}@db:5432/app",
        f"redis://:{SECRET}@redis:6379/0",
        f"Server=db;Database=app;User Id=sa;Password={SECRET};",
        f"Data Source=db;Pwd={SECRET}",
        f"addr=10.0.0.1,username=u,password={SECRET}",
        f"jdbc:postgresql://db/app?user=app&password={SECRET}",
        f"$6$rounds=5000$salt${SECRET}",
        f"admin:$2b$12${SECRET}",
        f"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA${SECRET}",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}",
        f'{{"auths": {{"r.example": {{"auth": "{SECRET}"}}}}}}',
        f"ghp_{SECRET}",
        f"sk_live_{SECRET}",
        f"x-auth-token: {SECRET}",
    ],
)
def test_the_table_recognises_secret_shapes(value: str) -> None:
    assert secret_shape(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "nginx:1.27",
        "http://localhost:8080/health",
        "postgres://db:5432/app",
        "unless-stopped",
        "compass=north",
        "--verbose",
        "a:b",
        "/run/secrets/db_password",
    ],
)
def test_the_table_leaves_ordinary_values(value: str) -> None:
    assert secret_shape(value) is None


def test_redact_text_masks_known_secrets_quoted_shapes_and_flags() -> None:
    text = f'bad "{SECRET}x", "postgres://u:p@h", --password=hunter2 ok'
    out = redact_text(text, {SECRET})
    assert SECRET not in out and "u:p@h" not in out and "hunter2" not in out
    assert out.startswith("bad ") and out.endswith(" ok")


def _config(text: str, environ: dict[str, str]) -> str:
    import json

    loaded = load_text(text, environ=environ)
    return json.dumps(resolved_document(loaded.stack, extensions=loaded.extensions))


@pytest.mark.parametrize(
    "body",
    [
        "    annotations: {a: 'x${DB_PASSWORD}'}\n",
        "    logging: {options: {tag: '${DB_PASSWORD}'}}\n",
        "    post_start: [{command: ['sh', '-c', 'echo ${DB_PASSWORD}']}]\n",
        "    x-note: 'seed ${DB_PASSWORD}'\n",
        "    dns: ['${DB_PASSWORD}']\n",
        "    extra_hosts: ['db:${DB_PASSWORD}']\n",
        "    mac_address: '${DB_PASSWORD}'\n",
        "    network_mode: '${DB_PASSWORD}'\n",
        "    tmpfs: ['/run:${DB_PASSWORD}']\n",
        "    environment: {NOTE: '${NOTE_UNSET:-${DB_PASSWORD}}'}\n",
    ],
)
def test_taint_reaches_every_field(body: str) -> None:
    text = f"services:\n  web:\n    image: nginx\n{body}"
    assert SECRET not in _config(text, {"DB_PASSWORD": SECRET})


def test_taint_reaches_top_level_fields() -> None:
    text = (
        "services:\n  web:\n    image: nginx\n    configs: [c]\n    volumes: ['d:/d']\n"
        "configs:\n  c:\n    content: 'pw=${DB_PASSWORD}'\n"
        "volumes:\n  d:\n    driver_opts: {o: 'addr=1,${DB_PASSWORD}'}\n"
        "x-note: '${DB_PASSWORD}'\n"
    )
    assert SECRET not in _config(text, {"DB_PASSWORD": SECRET})


def test_the_default_of_a_secret_variable_is_secret() -> None:
    text = f"services:\n  web:\n    image: nginx\n    labels: {{n: '${{API_TOKEN:-{SECRET}}}'}}\n"
    assert SECRET not in _config(text, {})


@pytest.mark.parametrize(
    "body",
    [
        "    mem_limit: ${DB_PASSWORD}\n",
        "    cpus: ${DB_PASSWORD}\n",
        "    privileged: ${DB_PASSWORD}\n",
        "    stop_grace_period: ${DB_PASSWORD}\n",
        "    ports: [{target: '${DB_PASSWORD}'}]\n",
        "    ulimits: {nofile: '${DB_PASSWORD}'}\n",
        "    volumes: ['./a:/b:${DB_PASSWORD}']\n",
        "    extends: ${DB_PASSWORD}\n",
        "    depends_on: ['${DB_PASSWORD}']\n",
    ],
)
def test_no_error_quotes_a_value_built_from_a_secret(body: str) -> None:
    with pytest.raises(StackupError) as info:
        load_text(f"services:\n  web:\n    image: nginx\n{body}", environ={"DB_PASSWORD": SECRET})
    shown = "\n".join(info.value.reports())
    assert "services.web" in shown and SECRET not in shown


def test_lint_reports_a_literal_password_in_a_url() -> None:
    from stackup.lint.linter import lint

    loaded = load_text(
        f"services:\n  web:\n    image: nginx\n    environment:\n"
        f"      DATABASE_URL: postgres://app:{SECRET}@db/app\n",
        environ={},
    )
    findings = lint(loaded)
    su010 = [f for f in findings if f.rule == "SU010"]
    assert su010 and all(SECRET not in f.message for f in findings)

"""Every lint rule: where it fires (at its exact line:col) and the safe form that passes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackup.errors import UsageError
from stackup.lint.linter import (
    RULES,
    Finding,
    LintReport,
    Severity,
    at_or_above,
    lint_report,
    render_json,
    render_text,
)
from stackup.lint.rules import is_secret_name
from stackup.lint.sarif import render_sarif
from stackup.loading.loader import LoadOptions, load

# A service that passes every rule; each test adds or removes lines from it.
SAFE = [
    "image: nginx",
    'user: "101"',
    "read_only: true",
    'security_opt: ["no-new-privileges:true"]',
    "mem_limit: 64m",
    "cpus: 0.5",
    "pids_limit: 100",
    'healthcheck: {test: ["CMD", "true"]}',
]
SERVICE_KEY = "3:3"  # `  web:` in every document below
FIRST = 4  # the line of the first `extra` line


def document(extra: str = "", drop: tuple[str, ...] = (), top: str = "") -> str:
    """`name: t`, `services: web:` with `extra` lines first (from line 4, column 5), then the
    SAFE lines not overridden by `extra` nor named in `drop`; `top` follows at the top level."""
    extra_lines = [line for line in extra.splitlines() if line]
    overridden = {line.split(":")[0] for line in extra_lines if not line.startswith(" ")}
    lines = ["name: t", "services:", "  web:"]
    lines += ["    " + line for line in extra_lines]
    lines += [
        "    " + line
        for line in SAFE
        if line.split(":")[0] not in overridden and line.split(":")[0] not in drop
    ]
    return "\n".join(lines) + "\n" + top


# --------------------------------------------------------------------------- loading

ENVIRON = {"DB_PASSWORD": "from-the-environment", "API_TOKEN": "from-the-environment"}


def run(text: str, tmp_path: Path, services: tuple[str, ...] = ()) -> LintReport:
    """Lint `text` as `stack.yaml` in `tmp_path`, loaded by the real loader; marks name the
    file as `stack.yaml` (the path given, relative to the working directory)."""
    (tmp_path / "stack.yaml").write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        loaded = load(LoadOptions(files=(Path("stack.yaml"),), environ=ENVIRON))
        return lint_report(loaded, services)
    finally:
        os.chdir(cwd)


def where(findings: list[Finding], rule: str) -> list[str]:
    return [f"{f.mark.line}:{f.mark.column}" for f in findings if f.rule == rule and f.mark]


def fired(text: str, tmp_path: Path, rule: str) -> list[str]:
    return where(run(text, tmp_path).findings, rule)


# --------------------------------------------------------------------------- the safe baseline


def test_safe_service_has_no_findings(tmp_path: Path) -> None:
    report = run(document(), tmp_path)
    assert report.findings == []


# --------------------------------------------------------------------------- each rule fires


FIRES: list[tuple[str, str, tuple[str, ...], list[str]]] = [
    # rule, extra lines, dropped SAFE keys, expected locations
    ("SU001", "privileged: true", (), ["4:5"]),
    ("SU002", "volumes:\n  - /var/run/docker.sock:/var/run/docker.sock", (), ["5:9"]),
    ("SU002", "volumes:\n  - /run/user/1000/docker.sock:/var/run/docker.sock:ro", (), ["5:9"]),
    ("SU003", "volumes:\n  - ./site:/srv\n  - /etc:/host/etc:ro", (), ["6:9"]),
    ("SU003", "volumes:\n  - type: bind\n    source: /\n    target: /host", (), ["5:9"]),
    ("SU003", "volumes:\n  - /proc/1/root:/host", (), ["5:9"]),
    ("SU004", "cap_add: [CHOWN, SYS_ADMIN]\ncap_drop: [ALL]", (), ["4:22"]),
    ("SU004", "cap_add:\n  - cap_net_admin\ncap_drop: [ALL]", (), ["5:9"]),
    ("SU005", "cap_add: [NET_BIND_SERVICE]", (), ["4:5"]),
    ("SU005", "cap_add: [CHOWN]\ncap_drop: [NET_RAW]", (), ["4:5"]),
    ("SU006", "network_mode: host", (), ["4:5"]),
    ("SU007", "pid: host", (), ["4:5"]),
    ("SU007", "ipc: host", (), ["4:5"]),
    ("SU007", "userns_mode: host", (), ["4:5"]),
    (
        "SU008",
        "security_opt:\n  - no-new-privileges:true\n  - seccomp:unconfined",
        (),
        ["6:9"],
    ),
    ("SU008", 'security_opt: ["seccomp=unconfined", "no-new-privileges"]', (), ["4:20"]),
    (
        "SU009",
        "security_opt:\n  - no-new-privileges:true\n  - apparmor:unconfined",
        (),
        ["6:9"],
    ),
    ("SU010", "environment:\n  DB_PASSWORD: hunter2", (), ["5:7"]),
    ("SU010", "environment:\n  - API_TOKEN=hunter2\n  - LOG=debug", (), ["5:9"]),
    ("SU010", "environment:\n  LOG: debug\n  awsSecretKey: 'hunter2'", (), ["6:7"]),
    ("SU011", 'ports:\n  - "80"', (), ["5:9"]),
    ("SU011", 'ports:\n  - "8080:80"', (), ["5:9"]),
    ("SU011", 'ports:\n  - "127.0.0.1:8080:80"\n  - "0.0.0.0:8443:443"', (), ["6:9"]),
    ("SU011", "ports:\n  - target: 80\n    published: 8080", (), ["5:9"]),
    ("SU012", "", ("user",), [SERVICE_KEY]),
    ("SU012", "user: root", (), ["4:5"]),
    ("SU012", 'user: "0:0"', (), ["4:5"]),
    ("SU013", "volumes:\n  - /srv/data:/data", (), ["5:9"]),
    ("SU013", "volumes:\n  - ../shared:/data", (), ["5:9"]),
    ("SU013", "env_file:\n  - path: /opt/app.env\n    required: false", (), ["5:9"]),
    ("SU014", 'ports:\n  - "127.0.0.1:80:8080"', (), ["5:9"]),
    ("SU015", "", ("security_opt",), [SERVICE_KEY]),
    ("SU015", 'security_opt: ["label:disable"]', (), ["4:5"]),
    ("SU015", 'security_opt: ["no-new-privileges:false"]', (), ["4:5"]),
    ("SU016", "", ("read_only",), [SERVICE_KEY]),
    ("SU016", "read_only: false", (), ["4:5"]),
    ("SU017", "", ("mem_limit",), [SERVICE_KEY]),
    ("SU017", "", ("cpus",), [SERVICE_KEY]),
    ("SU018", "", ("pids_limit",), [SERVICE_KEY]),
    ("SU019", "", ("healthcheck",), [SERVICE_KEY]),
    ("SU019", "healthcheck:\n  disable: true", (), ["4:5"]),
    ("SU019", "restart: always", ("healthcheck",), [SERVICE_KEY]),
    ("SU020", "x-stackup:\n  lint:\n    ignore:\n      - rule: SU016", (), ["7:13"]),
    ("SU020", "x-stackup:\n  lint:\n    ignore:\n      - {rule: SU016, reason: ' '}", (), ["7:13"]),
    ("SU020", "x-stackup:\n  lint:\n    ignore:\n      - {rule: SU099, reason: x}", (), ["7:13"]),
]


@pytest.mark.parametrize(("rule", "extra", "drop", "expected"), FIRES)
def test_rule_fires_at_the_offending_key(
    tmp_path: Path, rule: str, extra: str, drop: tuple[str, ...], expected: list[str]
) -> None:
    assert fired(document(extra, drop), tmp_path, rule) == expected


def test_every_rule_has_a_firing_and_a_passing_test() -> None:
    assert {case[0] for case in FIRES} == set(RULES)
    assert {case[0] for case in PASSES} == set(RULES)


# --------------------------------------------------------------------------- safe forms pass


PASSES: list[tuple[str, str, tuple[str, ...]]] = [
    ("SU001", "privileged: false", ()),
    ("SU002", "volumes:\n  - ./run/app.sock:/run/app.sock", ()),
    ("SU003", "volumes:\n  - ./etc:/etc/app:ro\n  - ./proc:/proc-copy", ()),
    ("SU004", "cap_add: [NET_BIND_SERVICE, CHOWN]\ncap_drop: [ALL]", ()),
    ("SU005", "cap_add: [NET_BIND_SERVICE]\ncap_drop: [all]", ()),
    ("SU006", "network_mode: bridge", ()),
    ("SU007", "pid: container:other\nipc: shareable", ()),
    ("SU008", 'security_opt: ["no-new-privileges:true", "seccomp:./profile.json"]', ()),
    ("SU009", 'security_opt: ["no-new-privileges:true", "apparmor:docker-default"]', ()),
    (
        "SU010",
        "environment:\n"
        "  DB_PASSWORD: ${DB_PASSWORD}\n"
        '  API_TOKEN: "$API_TOKEN"\n'
        "  DB_PASSWORD_FILE: /run/secrets/db\n"
        "  SECRET_KEY:\n"
        "  KEYBOARD: us\n"
        "  PWD: /app\n"
        "  EMPTY_TOKEN: ''",
        (),
    ),
    ("SU010", "environment:\n  - DB_PASSWORD=${DB_PASSWORD:-}\n  - TOKEN", ()),
    ("SU011", 'ports:\n  - "127.0.0.1:8080:80"\n  - "[::1]:8443:443"', ()),
    ("SU012", 'user: "1000:1000"', ()),
    (
        "SU013",
        "volumes:\n  - ./site:/usr/share/nginx/html:ro\n  - type: tmpfs\n    target: /tmp",
        (),
    ),
    (
        "SU013",
        "env_file:\n  - {path: .env, required: false}\n  - {path: ./conf/app.env, required: false}",
        (),
    ),
    ("SU014", 'ports:\n  - "127.0.0.1:1024:80"\n  - "127.0.0.1::80"', ()),
    ("SU015", 'security_opt: ["no-new-privileges=true"]', ()),
    ("SU016", "read_only: true", ()),
    (
        "SU017",
        "deploy:\n  resources:\n    limits:\n      memory: 64m\n      cpus: '0.5'",
        ("mem_limit", "cpus"),
    ),
    ("SU018", "deploy:\n  resources:\n    limits:\n      pids: 50", ("pids_limit",)),
    ("SU019", 'restart: "no"', ("healthcheck",)),
    ("SU020", "x-stackup:\n  lint:\n    ignore:\n      - {rule: SU016, reason: needs /tmp}", ()),
]


@pytest.mark.parametrize(("rule", "extra", "drop"), PASSES)
def test_safe_form_passes(tmp_path: Path, rule: str, extra: str, drop: tuple[str, ...]) -> None:
    assert fired(document(extra, drop), tmp_path, rule) == []


def test_one_shot_dependency_needs_no_healthcheck(tmp_path: Path) -> None:
    text = document(
        "depends_on:\n  migrate: {condition: service_completed_successfully}",
        top="  migrate:\n    image: app\n",
    )
    report = run(text, tmp_path)
    assert [f for f in report.findings if f.rule == "SU019" and f.service == "migrate"] == []


def test_sensitive_names_from_x_stackup_count_as_secrets(tmp_path: Path) -> None:
    extra = "environment:\n  DSN: postgres://u:hunter2@db/app\nx-stackup:\n  sensitive: [DSN]"
    assert fired(document(extra), tmp_path, "SU010") == ["5:7"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("MYSQL_ROOT_PASSWORD", True),
        ("apiKey", True),
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD_FILE", False),
        ("KEYBOARD", False),
        ("MONKEY_COUNT", False),
        ("PASSING_GRADE", False),
        ("LOG_LEVEL", False),
        ("TOKEN_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --------------------------------------------------------------------------- top-level findings


def test_top_level_secret_and_config_files_outside_the_project(tmp_path: Path) -> None:
    top = (
        "secrets:\n  db:\n    file: /opt/db.txt\n  ok:\n    file: ./db.txt\n"
        "configs:\n  app:\n    file: ../app.conf\n"
    )
    text = document(top=top)
    lines = text.splitlines()
    assert lines[12:14] == ["  db:", "    file: /opt/db.txt"]
    assert fired(text, tmp_path, "SU013") == ["14:5", "19:5"]


# --------------------------------------------------------------------------- suppressions


def test_service_suppression_with_reason(tmp_path: Path) -> None:
    extra = (
        "privileged: true\n"
        "x-stackup:\n  lint:\n    ignore:\n      - {rule: SU001, reason: runs dockerd in CI}"
    )
    report = run(document(extra), tmp_path)
    assert report.findings == []
    [suppressed] = report.suppressed
    assert suppressed.finding.rule == "SU001"
    assert suppressed.reason == "runs dockerd in CI"
    assert suppressed.mark is not None and (suppressed.mark.line, suppressed.mark.column) == (8, 13)


def test_top_level_suppression_covers_every_service(tmp_path: Path) -> None:
    top = (
        "  worker:\n    image: app\n"
        'x-stackup:\n  lint:\n    ignore:\n      - {rule: SU012, reason: "images set USER"}\n'
    )
    report = run(document(drop=("user",), top=top), tmp_path)
    assert [f.rule for f in report.findings if f.rule == "SU012"] == []
    assert {s.finding.service for s in report.suppressed if s.finding.rule == "SU012"} == {
        "web",
        "worker",
    }


def test_reasonless_suppression_is_not_applied(tmp_path: Path) -> None:
    extra = "privileged: true\nx-stackup:\n  lint:\n    ignore:\n      - rule: SU001"
    report = run(document(extra), tmp_path)
    assert sorted(f.rule for f in report.findings) == ["SU001", "SU020"]
    assert report.suppressed == []


def test_suppression_of_another_service_does_not_apply(tmp_path: Path) -> None:
    top = (
        "  worker:\n    image: app\n    x-stackup:\n      lint:\n        ignore:\n"
        "          - {rule: SU001, reason: not web}\n"
    )
    report = run(document("privileged: true", top=top), tmp_path)
    assert where(report.findings, "SU001") == ["4:5"]


# --------------------------------------------------------------------------- selection, severity


def test_service_selection(tmp_path: Path) -> None:
    top = "  worker:\n    image: app\n    privileged: true\n"
    text = document(top=top)
    assert {f.service for f in run(text, tmp_path).findings} == {"worker"}
    assert run(text, tmp_path, ("web",)).findings == []
    with pytest.raises(UsageError, match="no such service: nope"):
        run(text, tmp_path, ("nope",))


def test_severity_order_and_threshold(tmp_path: Path) -> None:
    assert Severity.LOW < Severity.MEDIUM < Severity.HIGH
    assert Severity.parse("Medium") is Severity.MEDIUM
    with pytest.raises(ValueError):
        Severity.parse("critical")
    findings = run(document("privileged: true", ("pids_limit", "user")), tmp_path).findings
    assert sorted(f.rule for f in at_or_above(findings, Severity.LOW)) == [
        "SU001",
        "SU012",
        "SU018",
    ]
    assert sorted(f.rule for f in at_or_above(findings, Severity.MEDIUM)) == ["SU001", "SU012"]
    assert [f.rule for f in at_or_above(findings, Severity.HIGH)] == ["SU001"]


def test_findings_carry_rule_metadata(tmp_path: Path) -> None:
    [finding] = run(document("pid: host"), tmp_path).findings
    assert finding.severity is Severity.HIGH
    assert finding.cis == "5.16"  # the one reference of SU007 that applies
    assert finding.service == "web"
    assert finding.path == "services.web.pid"
    assert finding.fix == RULES["SU007"].fix
    assert str(finding.mark) == "stack.yaml:4:5"


def test_rule_table_matches_the_issue() -> None:
    table = {rid: (r.cis, str(r.severity)) for rid, r in RULES.items()}
    assert table == {
        "SU001": ("5.5", "high"),
        "SU002": ("5.32", "high"),
        "SU003": ("5.6", "high"),
        "SU004": ("5.4", "high"),
        "SU005": ("5.4", "medium"),
        "SU006": ("5.10", "high"),
        "SU007": ("5.16, 5.17, 5.31", "high"),
        "SU008": ("5.22", "high"),
        "SU009": ("5.2", "high"),
        "SU010": (None, "high"),
        "SU011": ("5.14", "medium"),
        "SU012": ("4.1", "medium"),
        "SU013": (None, "medium"),
        "SU014": ("5.8", "low"),
        "SU015": ("5.26", "low"),
        "SU016": ("5.13", "low"),
        "SU017": ("5.11, 5.12", "low"),
        "SU018": ("5.29", "low"),
        "SU019": ("5.27", "low"),
        "SU020": (None, "medium"),
    }


# --------------------------------------------------------------------------- output


SECRET_STACK = (
    "privileged: true\n"
    "environment:\n  DB_PASSWORD: hunter2-do-not-print\n"
    "x-stackup:\n  lint:\n    ignore:\n      - {rule: SU016, reason: writes /var/cache}"
)


def test_no_output_format_prints_a_secret_value(tmp_path: Path) -> None:
    report = run(document(SECRET_STACK, ("read_only",)), tmp_path)
    assert any(f.rule == "SU010" for f in report.findings)
    for out in (
        render_text(report, Severity.LOW),
        render_json(report, Severity.LOW),
        render_sarif(report, Severity.LOW),
    ):
        assert "DB_PASSWORD" in out
        assert "hunter2" not in out


def test_text_output(tmp_path: Path) -> None:
    report = run(document(SECRET_STACK, ("read_only",)), tmp_path)
    out = render_text(report, Severity.MEDIUM)
    assert out.splitlines() == [
        "stack.yaml:4:5: SU001 [high] web: `privileged: true` gives the container full host "
        "access (CIS 5.5)",
        f"    fix: {RULES['SU001'].fix}",
        "stack.yaml:6:7: SU010 [high] web: DB_PASSWORD is set to a literal value in the stack file",
        f"    fix: {RULES['SU010'].fix}",
        "2 findings at or above medium (2 high)",
    ]
    low = render_text(report, Severity.LOW).splitlines()[-1]
    assert low == "2 findings at or above low (2 high); 1 suppressed"
    clean = render_text(run(document(), tmp_path), Severity.LOW)
    assert clean == "no findings at or above low\n"


def test_json_output_shape(tmp_path: Path) -> None:
    report = run(document(SECRET_STACK, ("read_only", "pids_limit")), tmp_path)
    doc = json.loads(render_json(report, Severity.MEDIUM))
    assert doc["schema"] == "stackup-lint/1"
    assert doc["threshold"] == "medium"
    assert doc["counts"] == {
        "high": 2,
        "medium": 0,
        "low": 0,
        "suppressed": 0,
        "below_threshold": 1,
    }
    first = doc["findings"][0]
    assert first == {
        "rule": "SU001",
        "name": "privileged",
        "title": "Container runs privileged",
        "severity": "high",
        "cis": "5.5",
        "service": "web",
        "message": "`privileged: true` gives the container full host access",
        "fix": RULES["SU001"].fix,
        "path": "services.web.privileged",
        "location": {"file": "stack.yaml", "line": 4, "column": 5},
    }
    low = json.loads(render_json(report, Severity.LOW))
    [suppressed] = low["suppressed"]
    assert suppressed["rule"] == "SU016"
    assert suppressed["suppression"] == {
        "reason": "writes /var/cache",
        "location": {"file": "stack.yaml", "line": 10, "column": 13},
    }


def test_include_from_outside_the_project(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "db.yaml").write_text("services:\n  db:\n    image: postgres\n")
    (tmp_path / "proj").mkdir()
    text = "name: t\ninclude:\n  - ../shared/db.yaml\n" + document().split("\n", 1)[1]
    findings = run(text, tmp_path / "proj").findings
    [outside] = [f for f in findings if f.rule == "SU013"]
    assert outside.mark is not None
    assert (Path(outside.mark.file).name, outside.mark.line) == ("db.yaml", 2)
    assert "included stack file" in outside.message


def test_docs_describe_every_rule() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "lint.md").read_text()
    for rule in RULES.values():
        assert f"### {rule.id}\n" in docs
        assert rule.why in docs and rule.fix in docs, rule.id

"""Controls: runs that show the planted secret on purpose (`--show-sensitive`), so a corpus that
finds no leak is known to be looking. The harness expects each to be judged `secret`."""

from __future__ import annotations

from tests.unit.hostile_cases import SECRET, Case

_STACK = (
    "name: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
    "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n"
)


def cases() -> list[Case]:
    env = {"DB_PASSWORD": SECRET}
    files = {"stack.yaml": _STACK}
    return [
        Case("control-config-yaml", files, ("config", "--show-sensitive"), env, klass="control"),
        Case(
            "control-config-json",
            files,
            ("config", "--format", "json", "--show-sensitive"),
            env,
            klass="control",
        ),
        Case(
            "control-dotenv",
            {**files, ".env": f"DB_PASSWORD={SECRET}\n"},
            ("config", "--show-sensitive"),
            klass="control",
        ),
        # Untrusted, a variable named by --env is read: the untrusted-env cases can see one.
        Case(
            "control-untrusted-env-passed",
            {"stack.yaml": _STACK.replace("DB_PASSWORD", "GREETING")},
            ("config", "--untrusted", "--env", "GREETING"),
            {"GREETING": SECRET},
            klass="control",
        ),
        # Not masked by design: the value is not secret-looking, and is shown in config.
        Case(
            "control-plain-value",
            {"stack.yaml": _STACK.replace("DB_PASSWORD", "GREETING")},
            ("config",),
            {"GREETING": SECRET},
            klass="control",
        ),
    ]

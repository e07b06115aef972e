"""A corpus of hostile inputs, generated in code, shared by tests/unit/test_hostile_input.py
(which asserts every case is handled) and bench/hostile.py (which counts the failures).

Each case is a small project directory (files written by `materialise`), the CLI arguments to
run in it, and the environment. A planted secret (`SECRET`) must never reach stdout or stderr;
the run must finish, exit 0, 1 or 2, and print no traceback.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SECRET = "Plant3dS3cretQx7"
# Files whose content is special: created by `materialise`, not written as text.
FIFO = "\0fifo"
DIRECTORY = "\0dir"
LINK = "\0link:"  # followed by the target of a symbolic link


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]
    # Empty: the corpus harness (tests/hostile/) runs the case in every mode it knows.
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # Files as committed at the base revision, for `diff --base HEAD` (a git repo is made).
    base_files: dict[str, str] | None = None
    # Needs a separate process (it reads /proc/self/environ, or may eat memory when broken).
    subprocess: bool = False
    # The class of attack (issue 26's list: "leak-error", "taint", "name-rules", "outside-file",
    # "import", "hang", "exit70", "forge", ...); the harness reports counts per class.
    klass: str = ""


def materialise(case: Case, root: Path) -> None:
    if case.base_files is not None:
        _write(case.base_files, root)
        # The repository is where the CLI runs: `repo/` when the case is laid out under it, so
        # that the files beside `repo/` are outside the repository.
        git = ["git", "-C", str(cwd_of(case, root)), "-c", "user.email=t@t", "-c", "user.name=t"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    _write(case.files, root)


def _write(files: dict[str, str], root: Path) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text == FIFO:
            if not path.exists():
                os.mkfifo(path)
        elif text == DIRECTORY:
            path.mkdir(exist_ok=True)
        elif text.startswith(LINK):
            if not path.is_symlink():
                path.symlink_to(text[len(LINK) :])
        else:
            path.write_text(text, encoding="utf-8")


def _stack(services: str, extra: str = "") -> str:
    return f"name: hostile\nservices:\n{services}{extra}"


def _svc(body: str = "", name: str = "web") -> str:
    return f"  {name}:\n    image: nginx:1.27\n{body}"


MODES: tuple[tuple[str, ...], ...] = (
    ("config",),
    ("graph",),
    ("diff", "--against", "base.yaml", "--format", "markdown"),
    ("diff", "--against", "base.yaml", "--format", "json"),
    ("diff", "--against", "base.yaml"),
)
BASE = _stack(_svc())


def _in_all_modes(name: str, files: dict[str, str], **kw: object) -> Iterator[Case]:
    for mode in MODES:
        label = "-".join(a.lstrip("-") for a in mode if a not in ("base.yaml",))
        yield Case(f"{name}[{label}]", {"base.yaml": BASE, **files}, mode, **kw)  # type: ignore[arg-type]


def _secret_in_errors() -> Iterator[Case]:
    s = SECRET
    values = {
        "trailing_dollar": f"{s}$",
        "unclosed": f"{s}${{X",
        "bad_name": f"{s}${{1}}",
        "bad_operator": f"{s}${{X!y}}",
        "dollar_space": f"pa$ {s}",
    }
    for label, value in values.items():
        text = _stack(_svc(f"    environment:\n      DB_PASSWORD: '{value}'\n"))
        yield Case(f"interp_{label}", {"stack.yaml": text}, ("config",))
        text = _stack(_svc(f"    environment:\n      - 'DB_PASSWORD={value}'\n"))
        yield Case(f"interp_list_{label}", {"stack.yaml": text}, ("config",))
        yield Case(
            f"dotenv_interp_{label}",
            {"stack.yaml": _stack(_svc()), ".env": f"PW={value}\n"},
            ("config",),
        )
    dotenv_lines = {
        # compose-go reads a bare name as "take it from the environment": not an error.
        "no_equals": f"{s}\n",
        # (A passwd line `root:x:0:0:...` is not here: compose-go reads `KEY: value` lines, so
        # it sets `root` to the rest of the line, and config shows it, as Compose does.)
        "trailing_after_quote": f'A="x" {s}\n',
        "single_trailing": f"A='x' {s}\n",
        # A digit-leading name is valid in compose-go; `!` is not a name character.
        "bad_key": f"A!{s}=x\n",
        "nul": f"A={s}\0rest\n",
    }
    for label, text in dotenv_lines.items():
        yield Case(f"dotenv_{label}", {"stack.yaml": _stack(_svc()), ".env": text}, ("config",))
        yield Case(
            f"env_file_{label}",
            {"stack.yaml": _stack(_svc("    env_file: app.env\n")), "app.env": text},
            ("config",),
        )
        yield Case(
            f"cli_env_file_{label}",
            {"stack.yaml": _stack(_svc()), "vars.env": text},
            ("--env-file", "vars.env", "config"),
        )
    yield Case(
        "env_file_proc_environ",
        {"stack.yaml": _stack(_svc("    env_file: /proc/self/environ\n"))},
        ("config",),
        env={"PLANTED_TOKEN": s},
        subprocess=True,
    )


def _secret_in_output() -> Iterator[Case]:
    s = SECRET
    taint = _stack(_svc("    environment:\n      DATABASE_URL: postgres://u:${DB_PASSWORD}@db/x\n"))
    yield from _in_all_modes("taint_environ", {"stack.yaml": taint}, env={"DB_PASSWORD": s})
    yield from _in_all_modes("taint_dotenv", {"stack.yaml": taint, ".env": f"DB_PASSWORD={s}\n"})
    taint_list = _stack(_svc("    environment:\n      - DSN=mysql://u:${API_TOKEN}@db\n"))
    yield from _in_all_modes("taint_list", {"stack.yaml": taint_list}, env={"API_TOKEN": s})
    taint_cmd = _stack(_svc('    command: ["app", "--db=${DB_PASSWORD}"]\n'))
    yield from _in_all_modes("taint_command", {"stack.yaml": taint_cmd}, env={"DB_PASSWORD": s})
    for var in (
        "DB_PWD",
        "SMTP_PASS",
        "GPG_PASSPHRASE",
        "AUTHORIZATION",
        "SENTRY_DSN",
        "db_pass",
        "apiKey",
    ):
        text = _stack(_svc(f"    environment:\n      {var}: {s}\n"))
        yield from _in_all_modes(f"name_{var}", {"stack.yaml": text})
    for label in ("traefik.http.middlewares.auth.token", "com.example.api-password"):
        text = _stack(_svc(f"    labels:\n      {label}: {s}\n"))
        yield from _in_all_modes(f"label_{label}", {"stack.yaml": text})
    for i, command in enumerate(
        (
            f'["app", "--password={s}"]',
            f'"app --password={s} --verbose"',
            f'["app", "--api-token={s}"]',
            f'["app", "--password", "{s}"]',
        )
    ):
        text = _stack(_svc(f"    command: {command}\n"))
        yield from _in_all_modes(f"command_{i}", {"stack.yaml": text})
    content = _stack(_svc("    secrets: [db]\n"), "secrets:\n  db:\n    environment: DB_PASSWORD\n")
    yield from _in_all_modes("secret_from_env", {"stack.yaml": content}, env={"DB_PASSWORD": s})


def _not_files() -> Iterator[Case]:
    """FIFOs, devices, directories and the like where a file is expected: refused, not read."""
    # A FIFO blocks a reader forever; /dev/zero never ends.
    for label, target in (("fifo", "pipe"), ("dev_zero", "/dev/zero"), ("directory", "adir")):
        files = {"pipe": FIFO, "adir": DIRECTORY}
        yield Case(
            f"env_file_{label}",
            {**files, "stack.yaml": _stack(_svc(f"    env_file: {target}\n"))},
            ("config",),
            subprocess=True,
        )
        yield Case(
            f"cli_env_file_{label}",
            {**files, "stack.yaml": _stack(_svc())},
            ("--env-file", target, "config"),
            subprocess=True,
        )
        yield Case(f"stack_file_{label}", files, ("-f", target, "config"), subprocess=True)
        dotenv = {"fifo": FIFO, "directory": DIRECTORY, "dev_zero": LINK + "/dev/zero"}[label]
        yield Case(
            f"dotenv_{label}",
            {"stack.yaml": _stack(_svc()), ".env": dotenv},
            ("config",),
            subprocess=True,
        )
        secret = _stack(_svc("    secrets: [db]\n"), f"secrets:\n  db:\n    file: {target}\n")
        yield Case(
            f"secret_file_{label}",
            {**files, "stack.yaml": secret, "base.yaml": BASE},
            ("diff", "--against", "base.yaml"),
            subprocess=True,
        )
        config = _stack(_svc("    configs: [site]\n"), f"configs:\n  site:\n    file: {target}\n")
        yield Case(
            f"config_file_{label}",
            {**files, "stack.yaml": config, "base.yaml": BASE},
            ("diff", "--against", "base.yaml"),
            subprocess=True,
        )
        yield Case(
            f"include_{label}",
            {**files, "stack.yaml": f"include:\n  - {target}\n" + _stack(_svc())},
            ("config",),
            subprocess=True,
        )
        yield Case(
            f"extends_file_{label}",
            {
                **files,
                "stack.yaml": _stack(
                    "  web:\n    extends:\n      file: " + target + "\n      service: x\n"
                ),
            },
            ("config",),
            subprocess=True,
        )


def _blow_ups() -> Iterator[Case]:
    ports = "".join("      - '1-65535'\n" for _ in range(20))
    yield Case(
        "ports_20_full_ranges",
        {"stack.yaml": _stack(_svc(f"    ports:\n{ports}"))},
        ("config",),
        subprocess=True,
    )
    yield Case(
        "ports_published_ranges",
        {
            "stack.yaml": _stack(
                _svc("    ports:\n" + "".join("      - '1-60000:1-60000'\n" for _ in range(20)))
            )
        },
        ("config",),
        subprocess=True,
    )
    lines = ["A0=abcdefgh"] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 60)]
    yield Case(
        "dotenv_exponential",
        {"stack.yaml": _stack(_svc()), ".env": "\n".join(lines) + "\n"},
        ("config",),
        subprocess=True,
    )
    yield Case(
        "dotenv_unclosed_quote_many_lines",
        {"stack.yaml": _stack(_svc()), ".env": 'A="start\n' + "x\n" * 200_000},
        ("config",),
    )
    yield Case(
        "dotenv_long_value",
        {"stack.yaml": _stack(_svc()), ".env": "A=" + "x" * 2_000_000 + "\n"},
        ("config",),
    )
    yield Case(
        "command_long_word",
        {"stack.yaml": _stack(_svc("    command: '" + "x" * 1_000_000 + "'\n"))},
        ("config", "-q"),
    )
    yield Case(
        "command_many_quotes",
        {"stack.yaml": _stack(_svc("    command: '" + '"a" ' * 200_000 + "'\n"))},
        ("config", "-q"),
    )
    chain = "".join(
        f"  s{i}:\n    image: busybox\n" + (f"    depends_on: [s{i - 1}]\n" if i else "")
        for i in range(5000)
    )
    yield Case("depends_on_chain_5000", {"stack.yaml": _stack(chain)}, ("config", "-q"))
    yield Case("depends_on_chain_5000_graph", {"stack.yaml": _stack(chain)}, ("graph",))
    for replicas in ("1000000000", "99999999999999999999999"):
        yield Case(
            f"replicas_{replicas[:12]}",
            {"stack.yaml": _stack(_svc(f"    deploy:\n      replicas: {replicas}\n"))},
            ("diff", "--against", "stack.yaml"),
            subprocess=True,
        )
        yield Case(
            f"scale_{replicas[:12]}",
            {"stack.yaml": _stack(_svc(f"    scale: {replicas}\n"))},
            ("diff", "--against", "stack.yaml"),
            subprocess=True,
        )
    for n in (400, 1500, 5000):
        services = "  s0:\n    image: busybox\n" + "".join(
            f"  s{i}:\n    extends: s{i - 1}\n" for i in range(1, n)
        )
        yield Case(f"extends_chain_{n}", {"stack.yaml": _stack(services)}, ("config", "-q"))


def _overflows() -> Iterator[Case]:
    huge = "9" * 400
    fields = {
        "mem_limit": f"{huge}m",
        "shm_size": f"{huge}",
        "memswap_limit": f"{huge}g",
        "stop_grace_period": f"{huge}s",
        "cpus": huge,
        "pids_limit": huge,
        "cpu_shares": huge,
        "oom_score_adj": huge,
        "mem_swappiness": huge,
    }
    for key, value in fields.items():
        text = _stack(_svc(f"    {key}: {value}\n"))
        yield Case(f"huge_{key}", {"stack.yaml": text}, ("config",))
        yield Case(f"huge_{key}_diff", {"stack.yaml": text}, ("diff", "--against", "stack.yaml"))
    health = {
        "interval": f"{huge}s",
        "timeout": f"{huge}h",
        "retries": huge,
        "start_period": "1e308s",
    }
    for key, value in health.items():
        text = _stack(_svc(f"    healthcheck:\n      test: [CMD, true]\n      {key}: {value}\n"))
        yield Case(f"huge_health_{key}", {"stack.yaml": text}, ("diff", "--against", "stack.yaml"))
    yield Case(
        "huge_port",
        {"stack.yaml": _stack(_svc(f"    ports:\n      - target: {huge}\n"))},
        ("config",),
    )
    yield Case(
        "huge_ulimit",
        {"stack.yaml": _stack(_svc(f"    ulimits:\n      nofile: {huge}\n"))},
        ("diff", "--against", "stack.yaml"),
    )
    yield Case(
        "huge_float_size",
        {"stack.yaml": _stack(_svc("    mem_limit: 1" + "0" * 330 + ".5m\n"))},
        ("config",),
    )


def _cli_paths() -> Iterator[Case]:
    yield Case(
        "output_to_missing_dir",
        {"stack.yaml": _stack(_svc()), "base.yaml": BASE},
        ("diff", "--against", "base.yaml", "-o", "no/such/dir/plan.json"),
    )
    yield Case(
        "output_to_directory",
        {"stack.yaml": _stack(_svc()), "base.yaml": BASE, "adir": DIRECTORY},
        ("diff", "--against", "base.yaml", "-o", "adir"),
    )
    yield Case(
        "base_with_file_outside_repo",
        {"repo/stack.yaml": _stack(_svc()), "outside.yaml": _stack(_svc())},
        ("-f", "../outside.yaml", "diff", "--base", "HEAD"),
        base_files={"repo/stack.yaml": _stack(_svc())},
    )
    yield Case(
        "base_empty_revision",
        {"stack.yaml": _stack(_svc())},
        ("diff", "--base", ""),
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    yield Case(
        "base_missing_revision",
        {"stack.yaml": _stack(_svc())},
        ("diff", "--base", "no-such-rev"),
        base_files={"stack.yaml": _stack(_svc())},
    )
    s = SECRET
    yield Case(
        "base_secret_taint",
        {"stack.yaml": _stack(_svc("    environment:\n      URL: x://u:${DB_PASSWORD}@h\n"))},
        ("diff", "--base", "HEAD", "--format", "markdown"),
        env={"DB_PASSWORD": s},
        base_files={"stack.yaml": _stack(_svc("    environment:\n      URL: x://h\n"))},
    )


def _names() -> Iterator[Case]:
    bad_names = {
        "newline": '"web\\n  + service evil (forged)"',
        "markdown": '"web`|**x**|<img src=x>"',
        "dot_quote": '"web\\" [label=evil]; \\"x"',
        "ansi": '"web\\e[31mred"',
        "space": '"web app"',
        "slash": '"a/b"',
        "colon": '"a:b"',
    }
    for label, name in bad_names.items():
        text = f"name: hostile\nservices:\n  {name}:\n    image: nginx\n"
        yield from _in_all_modes(f"service_name_{label}", {"stack.yaml": text})
        net = f"name: hostile\nservices:\n  web:\n    image: nginx\n    networks: [{name}]\nnetworks:\n  {name}: {{}}\n"
        yield from _in_all_modes(f"network_name_{label}", {"stack.yaml": net})


def all_cases() -> list[Case]:
    cases = [
        *_secret_in_errors(),
        *_secret_in_output(),
        *_not_files(),
        *_blow_ups(),
        *_overflows(),
        *_cli_paths(),
        *_names(),
    ]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


def cwd_of(case: Case, root: Path) -> Path:
    """Where the CLI runs: the repository for `--base` cases laid out under `repo/`."""
    return root / "repo" if any(k.startswith("repo/") for k in case.files) else root


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None: killed after the timeout
    stdout: str
    stderr: str

    def problems(self) -> list[str]:
        """What is wrong with this run: hang, secret, exit 70, traceback, odd exit code."""
        out = []
        text = self.stdout + self.stderr
        if self.code is None:
            out.append("hang")
        if SECRET in text:
            out.append("secret")
        if self.code == 70:
            out.append("exit70")
        if "Traceback (most recent call last)" in text:
            out.append("traceback")
        if self.code not in (None, 0, 1, 2, 70):
            out.append(f"exit{self.code}")
        return out


def run_subprocess(case: Case, root: Path, timeout: float, memory: int = 2 << 30) -> Outcome:
    """Run the case as `python -m stackup ...` in `root` (already materialised)."""
    import resource
    import sys

    def limit() -> None:
        # A broken build may read /dev/zero into memory: fail it, not the machine.
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        os.setsid()

    env = {**os.environ, "NO_COLOR": "1", **case.env}
    env.pop("STACKUP_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackup", *case.args],
        cwd=cwd_of(case, root),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return Outcome(None, out.decode(errors="replace"), err.decode(errors="replace"))
    return Outcome(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

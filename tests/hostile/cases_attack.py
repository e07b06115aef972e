"""Red-team cases for the untrusted mode (issue 26), written from the threat model before
reading the code that handles them: paths that escape the repository by routes the first corpus
did not take (COMPOSE_FILE from a committed .env, `~user`, `$HOME`, build contexts, URLs,
NUL bytes, link loops), git revisions that are options or paths, git configuration that runs
commands, and files that are not YAML reached through include and extends.
"""

from __future__ import annotations

from tests.unit.hostile_cases import FIFO, LINK, SECRET, Case

S = SECRET
UNTRUSTED = {"STACKUP_UNTRUSTED": "1"}
HEAD = "name: hostile\nservices:\n"
BASE = HEAD + "  web:\n    image: nginx:1.27\n"
OUTSIDE = {
    "outside/app.env": f"FOO={S}\n",
    "outside/inc.yaml": f"services:\n  inc:\n    image: busybox\n    environment:\n      FOO: {S}\n",
    "outside/Dockerfile": f"FROM busybox\nRUN echo {S}\n",
    "outside/secret.txt": f"{S}\n",
    "home/.netrc.env": f"NETRC={S}\n",
}
# A command git would run if it read configuration it must not trust: it appends the secret to a
# file in the repository, which the harness then reads as written by the run.
PWN = f"sh -c 'echo {S} >> pwned.txt'"

KNOWN_FAILURES: dict[str, str] = {}


def _web(body: str = "", extra: str = "") -> str:
    return f"{HEAD}  web:\n    image: nginx:1.27\n{body}{extra}"


def _out(name: str, stack: str, extra: dict[str, str] | None = None, **kw: object) -> Case:
    files = {**OUTSIDE, "repo/stack.yaml": stack, "repo/base.yaml": BASE, **(extra or {})}
    env = {**UNTRUSTED, **kw.pop("env", {})}  # type: ignore[dict-item]
    return Case(f"attack-out-{name}", files, env=env, klass="outside-file", **kw)  # type: ignore[arg-type]


def _outside_cases() -> list[Case]:
    return [
        # A committed .env naming the stack files or env files Compose reads from it.
        _out("dotenv-compose-file", BASE, {"repo/.env": "COMPOSE_FILE=../outside/inc.yaml\n"}),
        _out(
            "dotenv-compose-file-list",
            BASE,
            {"repo/.env": "COMPOSE_FILE=stack.yaml:../outside/inc.yaml\n"},
        ),
        _out(
            "dotenv-compose-env-files",
            _web("    environment:\n      X: ${FOO:-none}\n"),
            {"repo/.env": "COMPOSE_ENV_FILES=../outside/app.env\n"},
        ),
        _out("env-file-tilde-user", _web("    env_file: ~root/../../${PWD}/x.env\n")),
        _out("env-file-unbraced-home", _web("    env_file: $HOME/.netrc.env\n")),
        _out("env-file-pwd", _web("    env_file: ${PWD}/../outside/app.env\n")),
        _out(
            "env-file-optional",
            _web(
                "    env_file:\n      - path: ../outside/app.env\n        required: false\n        format: raw\n"
            ),
        ),
        _out("env-file-file-url", _web("    env_file: file:///etc/hostname\n")),
        _out("env-file-nul", _web('    env_file: "ok.env\\0../../outside/app.env"\n')),
        _out("env-file-long-name", _web(f"    env_file: {'a' * 5000}.env\n")),
        _out(
            "env-file-loop", _web("    env_file: loop.env\n"), {"repo/loop.env": LINK + "loop.env"}
        ),
        _out("env-file-dir-dot", _web("    env_file: .\n")),
        _out("env-file-root", _web("    env_file: /\n")),
        _out(
            "secret-dev-stdin", _web("    secrets: [s]\n", "secrets:\n  s:\n    file: /dev/stdin\n")
        ),
        _out(
            "secret-proc-environ",
            _web("    secrets: [s]\n", "secrets:\n  s:\n    file: /proc/self/environ\n"),
            env={"PLANTED": S},
            subprocess=True,
        ),
        _out(
            "config-fifo-in-repo",
            _web("    configs: [c]\n", "configs:\n  c:\n    file: ./pipe\n"),
            {"repo/pipe": FIFO},
        ),
        _out(
            "config-directory-outside",
            _web("    configs: [c]\n", "configs:\n  c:\n    file: ../outside\n"),
        ),
        _out(
            "extends-url",
            HEAD
            + "  web:\n    extends:\n      file: https://example.com/a.yaml\n      service: a\n",
        ),
        _out("include-git-remote", "include:\n  - git::https://example.com/x.git\n" + BASE),
        _out("include-oci", "include:\n  - oci://example.com/x:1\n" + BASE),
        _out("include-directory-outside", "include:\n  - ../outside\n" + BASE),
        _out(
            "include-project-directory",
            "include:\n  - path: inc.yaml\n    project_directory: ../outside\n" + BASE,
            {"repo/inc.yaml": "services:\n  inc:\n    image: busybox\n    env_file: app.env\n"},
        ),
        _out(
            "include-chain-hop",
            "include:\n  - a/inc.yaml\n" + BASE,
            {
                "repo/a/inc.yaml": "include:\n  - ../b/inc.yaml\nservices: {}\n",
                "repo/b/inc.yaml": "include:\n  - ../../outside/inc.yaml\nservices: {}\n",
            },
        ),
        _out(
            "extends-chain-link-dir",
            HEAD + "  web:\n    extends:\n      file: d/a.yaml\n      service: a\n",
            {
                "repo/d": LINK + "sub",
                "repo/sub/a.yaml": "services:\n  a:\n    extends:\n      file: ../up/base.yaml\n      service: base\n",
                "repo/up": LINK + "../outside",
                "outside/base.yaml": f"services:\n  base:\n    image: busybox\n    environment:\n      FOO: {S}\n",
            },
        ),
        _out("build-context-outside", _web("    build: ../outside\n")),
        _out(
            "build-dockerfile-outside",
            _web("    build:\n      context: .\n      dockerfile: ../outside/Dockerfile\n"),
        ),
        _out(
            "build-context-root",
            _web("    build:\n      context: /\n      dockerfile: etc/hostname\n"),
        ),
        _out(
            "build-secret-file",
            _web(
                "    build:\n      context: .\n      secrets: [s]\n",
                "secrets:\n  s:\n    file: ../outside/secret.txt\n",
            ),
        ),
        _out(
            "build-ssh",
            _web("    build:\n      context: .\n      ssh: [default=../outside/secret.txt]\n"),
        ),
        _out(
            "bind-outside",
            _web(
                "    volumes:\n      - ../outside:/o\n      - ~/.netrc.env:/n\n      - /etc/hostname:/h\n"
            ),
        ),
        _out(
            "bind-long-outside",
            _web(
                "    volumes:\n      - type: bind\n        source: ../outside/secret.txt\n        target: /s\n"
            ),
        ),
        _out(
            "label-file-proc",
            _web("    label_file: /proc/self/environ\n"),
            env={"PLANTED": S},
            subprocess=True,
        ),
        _out(
            "interp-in-secret-path",
            _web("    secrets: [s]\n", "secrets:\n  s:\n    file: ${HOME}/.netrc.env\n"),
        ),
    ]


def _base_cases() -> list[Case]:
    """`diff --base`: revisions that are options or paths, links in git trees, git
    configuration that names commands."""
    cases: list[Case] = []
    base_files = {**OUTSIDE, "repo/stack.yaml": BASE}
    for label, rev in (
        ("option-output", "--output=/tmp/stackup-attack-x"),
        ("option-exec", "--upload-pack=touch pwned.txt"),
        ("colon-path", "HEAD:../outside"),
        ("tree-dotdot", "HEAD:../../etc"),
        ("dash", "-"),
        ("range", "HEAD..HEAD"),
        ("nul-ish", "HEAD\\x00"),
    ):
        cases.append(
            Case(
                f"attack-base-rev-{label}",
                {"repo/stack.yaml": BASE},
                ("diff", f"--base={rev}", "--format", "markdown"),
                base_files=base_files,
                klass="exec",
            )
        )
    # The base's stack file itself is a link out; a directory of the base is a link out.
    for label, files in (
        ("stack-link", {**OUTSIDE, "repo/stack.yaml": LINK + "../outside/inc.yaml"}),
        (
            "dir-link",
            {
                **OUTSIDE,
                "repo/stack.yaml": "include:\n  - d/inc.yaml\n" + BASE,
                "repo/d": LINK + "../outside",
            },
        ),
        (
            "dotenv-link",
            {
                **OUTSIDE,
                "repo/stack.yaml": _web("    environment:\n      X: ${FOO:-none}\n"),
                "repo/.env": LINK + "../outside/app.env",
            },
        ),
        (
            "dotenv-compose-file",
            {**OUTSIDE, "repo/stack.yaml": BASE, "repo/.env": "COMPOSE_FILE=../outside/inc.yaml\n"},
        ),
        (
            "env-file-dotdot",
            {**OUTSIDE, "repo/stack.yaml": _web("    env_file: ../outside/app.env\n")},
        ),
        (
            "secret-absolute",
            {
                **OUTSIDE,
                "repo/stack.yaml": _web(
                    "    secrets: [s]\n", "secrets:\n  s:\n    file: /etc/hostname\n"
                ),
            },
        ),
    ):
        cases.append(
            Case(
                f"attack-base-{label}",
                {"repo/stack.yaml": BASE},
                ("diff", "--base", "HEAD", "--format", "markdown"),
                base_files=files,
                klass="outside-file",
            )
        )
    # Git configuration and attributes that run commands: written after the commit, as a
    # checkout in CI could carry them (a poisoned cache, a hostile runner image).
    git_config = (
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f"\tfsmonitor = {PWN}\n\thooksPath = hooks\n\tpager = {PWN}\n"
        f"[diff]\n\texternal = {PWN}\n"
        f'[diff "x"]\n\ttextconv = {PWN}\n'
        f'[filter "x"]\n\tsmudge = {PWN}\n\tclean = {PWN}\n\tprocess = {PWN}\n'
    )
    attrs = "* diff=x filter=x\n"
    cases.append(
        Case(
            "attack-exec-git-config",
            {
                "repo/stack.yaml": _web("    labels:\n      a: b\n"),
                "repo/.git/config": git_config,
                "repo/.gitattributes": attrs,
            },
            ("diff", "--base", "HEAD", "--format", "markdown"),
            base_files={"repo/stack.yaml": BASE, "repo/.gitattributes": attrs},
            klass="exec",
        )
    )
    cases.append(
        Case(
            "attack-exec-git-env",
            {"repo/stack.yaml": _web("    labels:\n      a: b\n")},
            ("diff", "--base", "HEAD", "--format", "markdown"),
            env={
                "GIT_EXTERNAL_DIFF": PWN,
                "GIT_PAGER": PWN,
                "GIT_CONFIG_PARAMETERS": f"'core.fsmonitor'='{PWN}'",
            },
            base_files={"repo/stack.yaml": BASE},
            klass="exec",
        )
    )
    # A submodule (gitlink) where the base names a file.
    cases.append(
        Case(
            "attack-base-submodule-dir",
            {"repo/stack.yaml": BASE},
            ("diff", "--base", "HEAD"),
            base_files={
                **OUTSIDE,
                "repo/stack.yaml": "include:\n  - sub/inc.yaml\n" + BASE,
                "repo/.gitmodules": '[submodule "sub"]\n\tpath = sub\n\turl = ../outside\n',
            },
            klass="outside-file",
        )
    )
    return cases


def _env_cases() -> list[Case]:
    planted = {
        "COMPOSE_PROJECT_NAME": S,
        "STACKUP_TOKEN": S,
        "HOME_NOTE": S,
    }
    cases = []
    for var in ("COMPOSE_PROJECT_NAME", "STACKUP_TOKEN", "HOME", "PWD", "USER", "HOME_NOTE"):
        env = {**UNTRUSTED, **planted}
        if var in ("HOME", "PWD", "USER"):
            env[var] = f"/x{S}"
        cases.append(
            Case(
                f"attack-env-{var.lower()}",
                {"stack.yaml": _web(f"    labels:\n      note: ${{{var}}}\n")},
                env=env,
                klass="untrusted-env",
            )
        )
    cases.append(
        Case(
            "attack-env-project-name-implicit",
            {"stack.yaml": BASE.replace("name: hostile\n", "")},
            env={**UNTRUSTED, "COMPOSE_PROJECT_NAME": S},
            klass="untrusted-env",
        )
    )
    cases.append(
        Case(
            "attack-env-compose-profiles",
            {"stack.yaml": _web("    labels:\n      note: x\n")},
            env={**UNTRUSTED, "COMPOSE_PROFILES": S, "COMPOSE_FILE": "stack.yaml"},
            klass="untrusted-env",
        )
    )
    cases.append(
        Case(
            "attack-env-dotenv-self-reference",
            {
                "stack.yaml": _web("    labels:\n      note: ${A}\n"),
                ".env": "A=${HOME_NOTE}\nB=$$HOME_NOTE\n",
            },
            env={**UNTRUSTED, "HOME_NOTE": S},
            klass="untrusted-env",
        )
    )
    return cases


def _not_yaml_cases() -> list[Case]:
    shadow = f"root:$6${S}$x:19000:0:99999:7:::\n"
    creds = f"https://bob:{S}@github.com\n"
    ini = f"[default]\naws_secret_access_key = {S}\n"
    cases = []
    for label, text in (
        ("shadow", shadow),
        ("creds", creds),
        ("ini", ini),
        ("scalar", f"{S}\n"),
        ("list", f"- {S}\n"),
        ("tab", f"a:\n\t{S}\n"),
    ):
        cases.append(
            Case(
                f"attack-not-yaml-include-{label}",
                {"stack.yaml": "include:\n  - inc.txt\n" + BASE, "inc.txt": text},
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"attack-not-yaml-extends-{label}",
                {
                    "stack.yaml": HEAD
                    + "  web:\n    extends:\n      file: b.txt\n      service: a\n",
                    "b.txt": text,
                },
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"attack-not-yaml-override-{label}",
                {"stack.yaml": BASE, "o.txt": text},
                ("-f", "stack.yaml", "-f", "o.txt", "config"),
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"attack-not-yaml-base-{label}",
                {"repo/stack.yaml": BASE},
                ("diff", "--base", "HEAD", "--format", "markdown"),
                base_files={"repo/stack.yaml": text},
                klass="not-yaml",
            )
        )
    return cases


def _flag_cases() -> list[Case]:
    """What the command line names: a FIFO, a directory or a device as the stack file, the
    `--against` base or an `--env-file` must be refused, not waited on or read without end."""
    files = {"stack.yaml": BASE, "pipe": FIFO, "adir": "\0dir"}
    out = []
    for label, target in (
        ("fifo", "pipe"),
        ("dir", "adir"),
        ("zero", "/dev/zero"),
        ("stdin", "/dev/stdin"),
    ):
        for kind, args in (
            ("file", ("-f", target, "config", "--untrusted")),
            ("env-file", ("--env-file", target, "config", "--untrusted")),
            ("against", ("diff", "--against", target, "--format", "markdown")),
        ):
            out.append(Case(f"attack-flag-{kind}-{label}", files, args, klass="outside-file"))
    return out


def cases() -> list[Case]:
    return [
        *_outside_cases(),
        *_base_cases(),
        *_env_cases(),
        *_not_yaml_cases(),
        *_flag_cases(),
    ]

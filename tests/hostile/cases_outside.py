"""Files outside the repository, the environment of the machine, and files that are not YAML
(issue 26), written from the class descriptions:

* ``outside-file``: in untrusted mode (`--untrusted`, STACKUP_UNTRUSTED=1, `diff --against`,
  `diff --base`) env files, secret and config files, extends, include and label files that
  resolve outside the repository (after symlinks) are refused and never opened. The project is
  laid out under `repo/`; `outside/` beside it and the home directory (`~`, the harness's HOME)
  hold planted secrets. The harness reports any file an untrusted run opens outside `repo/`.
* ``untrusted-env``: in untrusted mode interpolation reads only the repository's .env and env
  files, and the variables named by `--env NAME`; the planted secret sits in the process
  environment under a name that looks harmless, so a trusted run would rightly print it.
* ``not-yaml``: a file that is not YAML (or not a stack file) is never echoed, in any mode:
  credentials, shadow lines, keys and INI files named as stack files, include or extends files
  or the `--against` base.
"""

from __future__ import annotations

from tests.unit.hostile_cases import LINK, SECRET, Case

S = SECRET
UNTRUSTED = {"STACKUP_UNTRUSTED": "1"}
HEAD = "name: hostile\nservices:\n"
BASE = HEAD + "  web:\n    image: nginx:1.27\n"


def _web(body: str = "", extra: str = "") -> str:
    return f"{HEAD}  web:\n    image: nginx:1.27\n{body}{extra}"


# --- outside-file -------------------------------------------------------------------------

OUTSIDE = {
    "outside/app.env": f"FOO={S}\n",
    "outside/labels.env": f"com.example.note={S}\n",
    "outside/secret.txt": f"{S}\n",
    "outside/site.conf": f"server_name {S};\n",
    "outside/base.yaml": f"services:\n  base:\n    image: busybox\n    environment:\n      FOO: {S}\n",
    "outside/inc.yaml": f"services:\n  inc:\n    image: busybox\n    environment:\n      FOO: {S}\n",
    "home/.git-credentials": f"https://bob:{S}@github.com\n",
    "home/.netrc.env": f"NETRC={S}\n",
    "home/.ssh/id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{S}\n-----END OPENSSH PRIVATE KEY-----\n",
}


def _outside(name: str, stack: str, extra: dict[str, str] | None = None, **kw: object) -> Case:
    """Every mode, untrusted through the environment."""
    files = {**OUTSIDE, "repo/stack.yaml": stack, "repo/base.yaml": BASE, **(extra or {})}
    return Case(f"outside-{name}", files, env=UNTRUSTED, klass="outside-file", **kw)  # type: ignore[arg-type]


def _outside_cases() -> list[Case]:
    services = "  web:\n    image: nginx:1.27\n"
    cases = [
        _outside("env-file-parent", _web("    env_file: ../outside/app.env\n")),
        _outside("env-file-home", _web("    env_file: ~/.git-credentials\n")),
        _outside("env-file-home-env", _web("    env_file: ~/.netrc.env\n")),
        _outside(
            "env-file-long-syntax",
            _web("    env_file:\n      - path: ../outside/app.env\n        required: false\n"),
        ),
        _outside("env-file-dotdot-inside", _web("    env_file: ./sub/../../outside/app.env\n")),
        _outside(
            "env-file-symlink",
            _web("    env_file: link.env\n"),
            {"repo/link.env": LINK + "../outside/app.env"},
        ),
        _outside(
            "env-file-symlinked-dir",
            _web("    env_file: conf/app.env\n"),
            {"repo/conf": LINK + "../outside"},
        ),
        _outside(
            "env-file-interpolated-home",
            _web("    env_file: ${HOME}/.netrc.env\n"),
        ),
        _outside(
            "dotenv-symlink",
            _web("    environment:\n      FOO: ${FOO}\n"),
            {"repo/.env": LINK + "../outside/app.env"},
        ),
        _outside(
            "secret-file",
            _web("    secrets: [db]\n", "secrets:\n  db:\n    file: ../outside/secret.txt\n"),
        ),
        _outside(
            "secret-file-home-key",
            _web("    secrets: [key]\n", "secrets:\n  key:\n    file: ~/.ssh/id_rsa\n"),
        ),
        _outside(
            "secret-file-symlink",
            _web("    secrets: [db]\n", "secrets:\n  db:\n    file: ./db.txt\n"),
            {"repo/db.txt": LINK + "../outside/secret.txt"},
        ),
        _outside(
            "config-file",
            _web("    configs: [site]\n", "configs:\n  site:\n    file: ../outside/site.conf\n"),
        ),
        # A bind-mounted tree (shipped to a remote engine) whose links lead out of the
        # repository: to a file, to a key in the home directory, to a whole directory.
        _outside(
            "bind-tree-links",
            _web("    volumes:\n      - ./site:/usr/share/nginx/html:ro\n"),
            {
                "repo/site/index.html": "hello\n",
                "repo/site/secret.txt": LINK + "../../outside/secret.txt",
                "repo/site/id_rsa": LINK + "../../home/.ssh/id_rsa",
                "repo/site/outside": LINK + "../../outside",
            },
        ),
        # Where the engine is (a docker context under ~/.docker) is never read for an untrusted
        # plan: the target is judged by its name.
        Case(
            "outside-docker-context",
            {
                **OUTSIDE,
                "repo/stack.yaml": _web("    volumes:\n      - ./site:/site:ro\n"),
                "repo/base.yaml": BASE,
                "repo/site/index.html": "hello\n",
                "home/.docker/config.json": f'{{"currentContext": "prod-{S}"}}\n',
            },
            env={**UNTRUSTED, "DOCKER_CONTEXT": f"prod-{S}"},
            klass="outside-file",
        ),
        _outside(
            "extends-file",
            HEAD + "  web:\n    extends:\n      file: ../outside/base.yaml\n      service: base\n",
        ),
        _outside(
            "extends-file-symlink",
            HEAD + "  web:\n    extends:\n      file: base-link.yaml\n      service: base\n",
            {"repo/base-link.yaml": LINK + "../outside/base.yaml"},
        ),
        _outside("include", "include:\n  - ../outside/inc.yaml\n" + HEAD + services),
        _outside(
            "include-long-env-file",
            "include:\n  - path: inc.yaml\n    env_file: ../outside/app.env\n" + HEAD + services,
            {
                "repo/inc.yaml": "services:\n  inc:\n    image: busybox\n    environment:\n      X: ${FOO:-none}\n"
            },
        ),
        _outside(
            "include-symlink",
            "include:\n  - inc-link.yaml\n" + HEAD + services,
            {"repo/inc-link.yaml": LINK + "../outside/inc.yaml"},
        ),
        _outside(
            "included-env-file-escapes",
            "include:\n  - sub/inc.yaml\n" + HEAD + services,
            {
                "repo/sub/inc.yaml": "services:\n  inc:\n    image: busybox\n"
                "    env_file: ../../outside/app.env\n"
            },
        ),
        _outside(
            "extends-chain-env-file",
            HEAD + "  web:\n    extends:\n      file: a.yaml\n      service: a\n",
            {
                "repo/a.yaml": "services:\n  a:\n    image: busybox\n"
                "    env_file: ../outside/app.env\n"
            },
        ),
        _outside("label-file", _web("    label_file: ../outside/labels.env\n")),
        _outside(
            "label-file-list-symlink",
            _web("    label_file:\n      - ok.env\n      - l.env\n"),
            {"repo/ok.env": "a=b\n", "repo/l.env": LINK + "../outside/labels.env"},
        ),
        _outside(
            "env-file-absolute-proc",
            _web("    env_file: /proc/self/environ\n"),
            subprocess=True,
        ),
        _outside(
            "secret-file-absolute",
            _web("    secrets: [h]\n", "secrets:\n  h:\n    file: /etc/hostname\n"),
        ),
    ]
    # Inside the repository but in its .git directory: a CI checkout keeps its token there.
    git_config = (
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {S}\n'
    )
    for label, body in (
        ("env-file-git-config", "    env_file: .git/config\n"),
        ("label-file-git-credentials", "    label_file: .git/creds.env\n"),
        ("env-file-git-via-link", "    env_file: gitlink/creds.env\n"),
    ):
        cases.append(
            Case(
                f"outside-{label}",
                {
                    "repo/.git/config": git_config,
                    "repo/.git/creds.env": f"NOTE={S}\n",
                    "repo/gitlink": LINK + ".git",
                    "repo/stack.yaml": _web(body),
                    "repo/base.yaml": BASE,
                },
                env=UNTRUSTED,
                base_files={"repo/stack.yaml": BASE},
                klass="outside-file",
            )
        )
    # The flag and the review modes, not only the environment variable.
    flagged = {
        "repo/stack.yaml": _web("    env_file: ../outside/app.env\n"),
        "repo/base.yaml": BASE,
        **OUTSIDE,
    }
    for fmt in ("yaml", "json"):
        cases.append(
            Case(
                f"outside-flag-config-{fmt}",
                flagged,
                ("config", "--untrusted", "--format", fmt),
                klass="outside-file",
            )
        )
    for command in (("lint", "--untrusted"), ("graph", "--untrusted")):
        cases.append(Case(f"outside-flag-{command[0]}", flagged, command, klass="outside-file"))
    for fmt in ("text", "json", "markdown"):
        cases.append(
            Case(
                f"outside-against-{fmt}",
                flagged,
                ("diff", "--against", "base.yaml", "--format", fmt),
                klass="outside-file",
            )
        )
    # `diff --base`: the base revision's files come from git; a committed symlink must not be
    # followed out of the repository, at the base or at the head.
    linked = _web("    env_file: link.env\n")
    base_files = {
        **OUTSIDE,
        "repo/stack.yaml": linked,
        "repo/link.env": LINK + "../outside/app.env",
    }
    for side, head in (("head", linked), ("git", BASE)):
        # head: the working tree's stack names the link; git: only the base revision does, so
        # the link is met in git (`git show` would give its target's text, never the file).
        for fmt in ("text", "markdown"):
            cases.append(
                Case(
                    f"outside-base-symlink-{side}-{fmt}",
                    {"repo/stack.yaml": head},
                    ("diff", "--base", "HEAD", "--format", fmt),
                    base_files=base_files,
                    klass="outside-file",
                )
            )
    include_link = {
        **OUTSIDE,
        "repo/stack.yaml": "include:\n  - inc.yaml\n" + BASE,
        "repo/inc.yaml": LINK + "../outside/inc.yaml",
    }
    cases.append(
        Case(
            "outside-base-include-symlink",
            {"repo/stack.yaml": BASE},
            ("diff", "--base", "HEAD"),
            base_files=include_link,
            klass="outside-file",
        )
    )
    absolute = {
        **OUTSIDE,
        "repo/stack.yaml": _web("    env_file: abs.env\n"),
        "repo/abs.env": LINK + "/proc/self/environ",
    }
    cases.append(
        Case(
            "outside-base-absolute-symlink",
            {"repo/stack.yaml": BASE},
            ("diff", "--base", "HEAD"),
            env={"PLANTED_TOKEN": S},
            base_files=absolute,
            subprocess=True,
            klass="outside-file",
        )
    )
    return cases


# --- untrusted-env ------------------------------------------------------------------------

GREETING = {"GREETING": S}


def _env_case(name: str, stack: str, extra: dict[str, str] | None = None, **kw: object) -> Case:
    env = {**UNTRUSTED, **GREETING, **kw.pop("env", {})}  # type: ignore[dict-item]
    files = {"stack.yaml": stack, **(extra or {})}
    return Case(f"env-{name}", files, env=env, klass="untrusted-env", **kw)  # type: ignore[arg-type]


def _env_cases() -> list[Case]:
    cases = [
        _env_case("braced", _web("    environment:\n      MSG: ${GREETING}\n")),
        _env_case("unbraced", _web("    environment:\n      MSG: hello $GREETING\n")),
        _env_case("default-unused", _web("    environment:\n      MSG: ${GREETING:-none}\n")),
        _env_case("dash-default", _web("    environment:\n      MSG: ${GREETING-none}\n")),
        _env_case("alternative", _web("    environment:\n      MSG: ${GREETING:+$GREETING}\n")),
        _env_case("nested-default", _web("    environment:\n      MSG: ${NOPE:-${GREETING}}\n")),
        _env_case("pass-through-list", _web("    environment:\n      - GREETING\n")),
        _env_case("pass-through-map", _web("    environment:\n      GREETING:\n")),
        _env_case("label", _web("    labels:\n      note: ${GREETING}\n")),
        _env_case("image-tag", _web("", "").replace("nginx:1.27", "nginx:${GREETING}")),
        _env_case("command", _web("    command: [echo, '${GREETING}']\n")),
        _env_case("hostname", _web("    hostname: h${GREETING}\n")),
        _env_case("working-dir", _web("    working_dir: /w/${GREETING}\n")),
        _env_case("extension", _web("", "x-note: ${GREETING}\n")),
        _env_case("network-name", _web("", "networks:\n  default:\n    name: n${GREETING}\n")),
        _env_case(
            "volume-name",
            _web("    volumes: [data:/d]\n", "volumes:\n  data:\n    name: v${GREETING}\n"),
        ),
        _env_case(
            "dotenv-reads-process",
            _web("    environment:\n      MSG: ${A}\n"),
            {".env": "A=x${GREETING}\n"},
        ),
        _env_case(
            "env-file-reads-process",
            _web("    env_file: app.env\n"),
            {"app.env": "MSG=${GREETING}\n"},
        ),
        _env_case(
            "env-file-pass-through", _web("    env_file: app.env\n"), {"app.env": "GREETING\n"}
        ),
        _env_case(
            "build-arg", _web("    build:\n      context: .\n      args:\n        A: ${GREETING}\n")
        ),
        _env_case("port", _web("    ports:\n      - '${GREETING}:80'\n")),
        _env_case("mem-limit", _web("    mem_limit: ${GREETING}\n")),
        _env_case("env-file-path", _web("    env_file: ${GREETING}.env\n")),
        _env_case("include-path", "include:\n  - ${GREETING}.yaml\n" + BASE),
        _env_case(
            "extends-service",
            HEAD + "  a:\n    image: busybox\n  web:\n    extends: ${GREETING}\n",
        ),
        _env_case("project-name", BASE.replace("name: hostile", "name: p${GREETING}")),
    ]
    # A review implies it, without the variable.
    review = _web("    environment:\n      MSG: ${GREETING}\n")
    for fmt in ("text", "json", "markdown"):
        cases.append(
            Case(
                f"env-against-{fmt}",
                {"stack.yaml": review, "base.yaml": BASE},
                ("diff", "--against", "base.yaml", "--format", fmt),
                env=GREETING,
                klass="untrusted-env",
            )
        )
    cases.append(
        Case(
            "env-base-head",
            {"stack.yaml": review},
            ("diff", "--base", "HEAD", "--format", "markdown"),
            env=GREETING,
            base_files={"stack.yaml": BASE},
            klass="untrusted-env",
        )
    )
    cases.append(
        Case(
            "env-flag-config",
            {"stack.yaml": review},
            ("config", "--untrusted"),
            env=GREETING,
            klass="untrusted-env",
        )
    )
    return cases


# --- not-yaml -----------------------------------------------------------------------------

NOT_YAML = {
    "shadow": f"root:$6${S}$x:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    "passwd-gecos": f"bob:x:1000:1000:Bob {S}, room: 12:/home/bob:/bin/bash\n",
    "git-credentials": f"https://bob:{S}@github.com\n",
    "ini": f"[default]\naws_secret_access_key = {S}\n",
    "private-key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{S}\n-----END OPENSSH PRIVATE KEY-----\n",
    "dotenv": f"PASSWORD={S}\nTOKEN_X=1\n",
    "key-is-secret": f"{S}: 1\n",
    "unclosed-flow": f"[{S}, x\n",
    "unclosed-quote": f'"{S}\n',
    "at-sign": f"@{S}\n",
    "tab-indent": f"\t{S}: x\n",
    "bad-indent": f"a: {S}\n  b: c\n",
    "undefined-alias": f"services: *{S}\n",
    "python-tag": f"services: !!python/object:{S} {{}}\n",
    "local-tag": f"x: !{S} 1\n",
    "two-documents": f"{S}\n---\nx\n",
    "directive": f"%{S} 1\n---\na: 1\n",
    "list": f"- {S}\n- x\n",
    "scalar-long-line": "x" * 5000 + S + "\n",
    "mapping-then-junk": f"services: {{}}\n{S}\n",
    "duplicate-key": f"{S}: 1\n{S}: 2\n",
    "htpasswd": f"admin:$apr1${S}$abc\n",
    "json-creds": f'{{"auths": {{"r.example": {{"auth": "{S}"}}}}}}\n',
    "nul-byte": f"a: 1\n\0{S}\n",
    "gshadow": f"root:*::\nbob:!{S}::\n",
    "shadow-yescrypt": f"bob:$y$j9T${S}:19000:0:99999:7:::\n",
    "shadow-bcrypt": f"bob:$2b$12${S}:19000:0:99999:7:::\n",
    "explicit-key": f"? {S}\n: 1\n",
    "flow-mapping": f"{{{S}: 1}}\n",
    "key-at-line-end": f"token {S}:\n",
}


def _not_yaml_cases() -> list[Case]:
    cases = []
    for label, text in NOT_YAML.items():
        # As the stack file itself, in every mode.
        cases.append(Case(f"not-yaml-{label}", {"stack.yaml": text}, klass="not-yaml"))
    for label in ("shadow", "passwd-gecos", "key-is-secret", "unclosed-flow", "bad-indent"):
        text = NOT_YAML[label]
        cases.append(
            Case(
                f"not-yaml-f-{label}", {"creds": text}, ("-f", "creds", "config"), klass="not-yaml"
            )
        )
        cases.append(
            Case(
                f"not-yaml-include-{label}",
                {"stack.yaml": "include:\n  - creds\n" + BASE, "creds": text},
                ("config",),
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"not-yaml-extends-{label}",
                {
                    "stack.yaml": HEAD
                    + "  web:\n    extends:\n      file: creds\n      service: x\n",
                    "creds": text,
                },
                ("config",),
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"not-yaml-against-{label}",
                {"stack.yaml": BASE, "creds": text},
                ("diff", "--against", "creds", "--format", "markdown"),
                klass="not-yaml",
            )
        )
        cases.append(
            Case(
                f"not-yaml-second-f-{label}",
                {"stack.yaml": BASE, "creds": text},
                ("-f", "stack.yaml", "-f", "creds", "lint"),
                klass="not-yaml",
            )
        )
    return cases


def cases() -> list[Case]:
    return [*_outside_cases(), *_env_cases(), *_not_yaml_cases()]

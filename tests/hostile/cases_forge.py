"""Forged output (issue 26): user-derived strings that try to print lines, escapes, links,
images, HTML or directives of their own in stackup's text, Markdown, DOT and Mermaid output.

Every hostile string starts with the marker `hx` right before its payload, and the payload
carries `FORGED`. Whatever the format, a run is forged when a line shows `FORGED` without the
`hx` that precedes it in the name (a line of its own), when a raw control, C1 or bidi
character reaches the output, when rich markup in a name is interpreted (`hxFORGED` printed
without its brackets), or when the Markdown renders an image, link, HTML or a table cell that
stackup did not make (the judge lives in tests/hostile/forge_judge.py).

Written from the issue's class description, before reading the code that handles these.
"""

from __future__ import annotations

from tests.unit.hostile_cases import Case

BASE = "name: hostile\nservices:\n  web:\n    image: nginx:1.27\n"

# YAML double-quoted escapes, so that the stack file itself is printable text.
CONTROLS = {
    "newline": r"\n    + container FORGED (new container)",
    "cr": r"\r  + container FORGED",
    "backspace": r"\b\b\b\bFORGED",
    "nul": r"\0FORGED",
    "osc8": r"\e]8;;https://evil.example/\e\\FORGED\e]8;;\e\\",
    "csi": r"\e[2K\e[1G  + container FORGED",
    "c1_csi": r"\x9b2K\x9b1G  + container FORGED",
    "bidi_rlo": r"\u202eFORGED\u202c",
    "bidi_isolate": r"\u2067FORGED\u2069",
    "nel": r"\x85  + container FORGED",
    "line_separator": r"\u2028  + container FORGED",
    "delete": r"\x7f\x7fFORGED",
    "tab_vt_ff": r"\t\v\fFORGED",
}


def _q(payload: str) -> str:
    """A YAML double-quoted scalar `hx<payload>`."""
    return '"hx' + payload.replace('"', r"\"") + '"'


def _case(name: str, stack: str, args: tuple[str, ...] = (), **files: str) -> Case:
    return Case(
        f"forge_{name}",
        {"stack.yaml": stack, "base.yaml": BASE, **files},
        args,
        klass="forge",
    )


def _service(body: str, extra: str = "") -> str:
    return f"name: hostile\nservices:\n  web:\n    image: nginx:1.27\n{body}{extra}"


def _controls_in_keys() -> list[Case]:
    """Each control in an environment key (a diff prints the key on its own line)."""
    out = []
    for label, payload in CONTROLS.items():
        out.append(
            _case(f"env_key_{label}", _service(f"    environment:\n      {_q(payload)}: '1'\n"))
        )
    return out


def _places() -> list[Case]:
    """The same newline forgery in every kind of name and value a plan or graph shows."""
    nl = CONTROLS["newline"]
    csi = CONTROLS["csi"]
    return [
        _case("label_key_newline", _service(f"    labels:\n      {_q(nl)}: v\n")),
        _case("label_value_csi", _service(f"    labels:\n      a: {_q(csi)}\n")),
        _case("env_value_newline", _service(f"    environment:\n      A: {_q(nl)}\n")),
        _case(
            "network_name_newline",
            _service(f"    networks: [{_q(nl)}]\n", f"networks:\n  {_q(nl)}: {{}}\n"),
        ),
        _case(
            "volume_name_osc8",
            _service(
                f'    volumes: [{_q(CONTROLS["osc8"])[:-1]}:/data"]\n',
                f"volumes:\n  {_q(CONTROLS['osc8'])}: {{}}\n",
            ),
        ),
        _case(
            "service_name_newline",
            f"name: hostile\nservices:\n  {_q(nl)}:\n    image: nginx:1.27\n",
        ),
        _case("image_name_csi", _service(f"    image: {_q(csi)}\n")),
        _case("container_name_cr", _service(f"    container_name: {_q(CONTROLS['cr'])}\n")),
        _case("command_bidi", _service(f"    command: [{_q(CONTROLS['bidi_rlo'])}]\n")),
        _case("extra_hosts_newline", _service(f"    extra_hosts: [{_q(nl)}]\n")),
        _case(
            "secret_name_c1",
            _service(
                f"    secrets: [{_q(CONTROLS['c1_csi'])}]\n",
                f"secrets:\n  {_q(CONTROLS['c1_csi'])}:\n    file: s.txt\n",
            ),
            **{"s.txt": "x\n"},
        ),
        _case(
            "config_name_newline",
            _service(f"    configs: [{_q(nl)}]\n", f"configs:\n  {_q(nl)}:\n    file: c.txt\n"),
            **{"c.txt": "x\n"},
        ),
    ]


def _markdown() -> list[Case]:
    """What GitHub's renderer would turn into markup of the attacker's."""
    fence = r"\n```\n<img src=x onerror=alert(1)>FORGED\n```\n"
    return [
        _case("md_fence_in_key", _service(f"    environment:\n      {_q(fence)}: '1'\n")),
        _case("md_fence_in_value", _service(f"    environment:\n      A: {_q(fence)}\n")),
        _case("md_pipe_in_label_key", _service("    labels:\n      'hx|FORGED|x|y': v\n")),
        _case("md_pipe_backtick", _service("    labels:\n      'hx`|`FORGED|`': v\n")),
        _case(
            "md_image_beacon",
            _service("    labels:\n      'hx![FORGED](https://evil.example/b.png)': v\n"),
        ),
        _case("md_link", _service("    labels:\n      a: 'hx[FORGED](https://evil.example/)'\n")),
        _case(
            "md_html",
            _service("    environment:\n      'hx<img src=x onerror=alert(1)>FORGED': '1'\n"),
        ),
        _case("md_autolink", _service("    labels:\n      'hx<https://evil.example/FORGED>': v\n")),
        _case(
            "md_network_html",
            _service("    networks: ['hx<b>FORGED</b>']\n", "networks:\n  'hx<b>FORGED</b>': {}\n"),
        ),
        _case("md_image_in_image", _service("    image: 'hx![FORGED](https://evil.example/i)'\n")),
    ]


def _graph_and_terminal() -> list[Case]:
    init = "hx%%{init: {'theme': 'dark'}}%%FORGED"
    quote = r"hx\" [label=\"FORGED\"]; \"x"
    return [
        _case(
            "mermaid_directive_network",
            _service(f'    networks: ["{init}"]\n', f'networks:\n  "{init}": {{}}\n'),
        ),
        _case(
            "mermaid_directive_secret",
            _service(f'    secrets: ["{init}"]\n', f'secrets:\n  "{init}":\n    file: s.txt\n'),
            **{"s.txt": "x\n"},
        ),
        _case(
            "dot_quote_network",
            _service(f'    networks: ["{quote}"]\n', f'networks:\n  "{quote}": {{}}\n'),
        ),
        _case(
            "mermaid_quote_volume",
            _service(
                '    volumes: ["hx\\"]-->FORGED[\\"x:/data"]\n',
                'volumes:\n  "hx\\"]-->FORGED[\\"x": {}\n',
            ),
        ),
        _case(
            "rich_markup_label",
            _service("    labels:\n      'hx[bold]FORGED[/bold]': v\n"),
        ),
        _case(
            "rich_markup_network",
            _service(
                "    networks: ['hx[red]FORGED[/]']\n", "networks:\n  'hx[red]FORGED[/]': {}\n"
            ),
        ),
        # lint prints findings about keys: the ANSI in a key must not reach the terminal.
        _case(
            "lint_ansi_in_label",
            _service(f"    privileged: true\n    labels:\n      {_q(CONTROLS['csi'])}: v\n"),
        ),
    ]


def _errors() -> list[Case]:
    """Error messages quote keys and paths: their controls must not reach the terminal."""
    nl = CONTROLS["newline"]
    return [
        _case("error_unknown_key", _service(f"    {_q(CONTROLS['csi'])}: 1\n")),
        _case("error_unknown_key_newline", _service(f"    {_q(nl)}: 1\n")),
        _case("error_env_file_missing", _service(f"    env_file: {_q(nl)}\n")),
        _case("error_bad_port", _service(f"    ports: [{_q(CONTROLS['osc8'])}]\n")),
        _case("error_bad_size", _service(f"    mem_limit: {_q(CONTROLS['bidi_rlo'])}\n")),
        _case("error_dangling_network", _service(f"    networks: [{_q(nl)}]\n")),
        _case("error_depends_missing", _service(f"    depends_on: [{_q(CONTROLS['cr'])}]\n")),
        _case(
            "error_stack_path_cr",
            _service(""),
            ("-f", "hx\r  + container FORGED.yaml", "config"),
        ),
        _case(
            "error_rich_markup_key",
            _service("    'hx[bold]FORGED[/bold]': 1\n"),
        ),
    ]


def _import() -> list[Case]:
    run = ("import", "run", "--")
    return [
        _case("import_flag_cr", _service(""), (*run, "docker", "run", "--hx\rFORGED", "nginx")),
        _case(
            "import_flag_csi", _service(""), (*run, "docker", "run", "--hx\x1b[2KFORGED", "nginx")
        ),
        _case("import_env_key_newline", _service(""), (*run, "-e", "hx\nFORGED=1", "nginx")),
        _case("import_label_bidi", _service(""), (*run, "--label", "hx\u202eFORGED=1", "nginx")),
        _case("import_name_markup", _service(""), (*run, "--name", "hx[bold]FORGED[/]", "nginx")),
    ]


def cases() -> list[Case]:
    out = [*_controls_in_keys(), *_places(), *_markdown(), *_graph_and_terminal(), *_errors()]
    out += _import()
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "case names must be unique"
    return out

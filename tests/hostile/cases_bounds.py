"""Bounded work and no exit 70 (issue 26): inputs that try to make stackup work for minutes or
die with an internal error (exit 70) instead of a located error (exit 1).

"hang": each must finish in well under 10 s (super-linear parsing, unbounded scale, alias
expansion, graph rendering). "exit70": unwritable outputs, undecodable environment values,
memory exhaustion on input; each must exit 0-3 with a message.

Written from the issue's class description, before reading the code that handles these.
"""

from __future__ import annotations

from tests.unit.hostile_cases import DIRECTORY, Case

BASE = "name: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
Q = ("config", "-q")
AGAINST = ("diff", "--against", "base.yaml")


def _service(body: str, extra: str = "") -> str:
    return f"name: hostile\nservices:\n  web:\n    image: nginx:1.27\n{body}{extra}"


def _hang(name: str, stack: str, args: tuple[str, ...] = Q, **files: str) -> Case:
    return Case(
        f"hang_{name}",
        {"stack.yaml": stack, "base.yaml": BASE, **files},
        args,
        subprocess=True,
        klass="hang",
    )


def _chain(n: int) -> str:
    return "name: chain\nservices:\n" + "".join(
        f"  s{i}:\n    image: busybox\n" + (f"    depends_on: [s{i - 1}]\n" if i else "")
        for i in range(n)
    )


def _hangs() -> list[Case]:
    pad = " " * 200_000
    colons = "1:" * 20_000 + "x"
    out = [
        _hang("port_colons", _service(f"    ports: ['{colons}']\n")),
        _hang("port_colons_ip", _service(f"    ports: ['127.0.0.1:{colons}']\n")),
        _hang("port_ranges", _service(f"    ports: ['{'1-' * 20_000}x']\n")),
        _hang("port_dots", _service(f"    ports: ['{'1.' * 30_000}:80:80x']\n")),
        _hang("port_ipv6", _service(f"    ports: ['[{':' * 40_000}x']\n")),
        _hang("port_digits", _service(f"    ports: ['{'1' * 100_000}/tcpx']\n")),
        _hang("expose_colons", _service(f"    expose: ['{colons}']\n")),
        _hang("size_spaces", _service(f"    mem_limit: '1{pad}x'\n")),
        _hang("size_digits", _service(f"    shm_size: '{'1' * 200_000}.{'1' * 200_000}x'\n")),
        _hang("size_spaces_middle", _service(f"    memswap_limit: '1 {pad}m x'\n")),
        _hang("size_tmpfs", _service(f"    tmpfs: ['/t:size=1{pad}x']\n")),
        _hang("duration_units", _service(f"    stop_grace_period: '{'1m' * 50_000}x'\n")),
        _hang("duration_spaces", _service(f"    stop_grace_period: '1{pad}sx'\n")),
        _hang(
            "duration_health",
            _service(
                f"    healthcheck:\n      test: [CMD, 'true']\n      interval: '{'1h1m' * 30_000}x'\n"
            ),
        ),
        _hang("duration_decimals", _service(f"    stop_grace_period: '{'1.' * 50_000}sx'\n")),
        _hang("volume_colons", _service(f"    volumes: ['{'a:' * 30_000}x']\n")),
        _hang("scale_flag", _service(""), (*AGAINST, "--scale", "web=1000000000")),
        _hang("scale_flag_huge", _service(""), (*AGAINST, "--scale", "web=" + "9" * 50)),
        _hang(
            "scale_total",
            "name: hostile\nservices:\n"
            + "".join(f"  s{i}:\n    image: busybox\n    scale: 10000\n" for i in range(50)),
            AGAINST,
        ),
        _hang(
            "replicas_total",
            "name: hostile\nservices:\n"
            + "".join(
                f"  s{i}:\n    image: busybox\n    deploy:\n      replicas: 10000\n"
                for i in range(50)
            ),
            AGAINST,
        ),
        _hang("graph_dot_chain", _chain(3000), ("graph", "--format", "dot")),
        _hang("graph_mermaid_chain", _chain(20_000), ("graph", "--format", "mermaid")),
        _hang("graph_text_chain", _chain(20_000), ("graph",)),
    ]
    big = "x" * 1_000_000
    uses = "".join(f"      L{i}: *big\n" for i in range(2000))
    out.append(
        _hang(
            "anchor_1mb_x2000",
            f"x-big: &big '{big}'\nname: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
            f"    labels:\n{uses}",
        )
    )
    out.append(
        _hang(
            "anchor_1mb_x2000_config",
            f"x-big: &big '{big}'\nname: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
            f"    labels:\n{uses}",
            ("config",),
        )
    )
    # Nested lists of a 100 kB string: few nodes, many bytes.
    nest = "x-a: &a ['" + "y" * 100_000 + "']\n"
    for level in "bcdefgh":
        prev = chr(ord(level) - 1)
        nest += f"x-{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    out.append(
        _hang("anchor_nested_bytes", nest + "name: hostile\nservices:\n  web:\n    image: x\n")
    )
    return out


def _exit70(name: str, stack: str, args: tuple[str, ...], **kw: object) -> Case:
    files: dict[str, str] = {"stack.yaml": stack, "base.yaml": BASE, "adir": DIRECTORY}
    extra = kw.pop("files", None)
    if isinstance(extra, dict):
        files.update(extra)
    return Case(f"exit70_{name}", files, args, klass="exit70", subprocess=True, **kw)  # type: ignore[arg-type]


def _exits() -> list[Case]:
    ok = _service("")
    bad = "caf\udce9 \udcff\udcfe"
    label = _service("    labels:\n      a: ${LBL}\n")
    out = [
        _exit70("graph_missing_dir", ok, ("graph", "-o", "/missing/dir/g.dot")),
        _exit70("graph_dot_missing_dir", ok, ("graph", "--format", "dot", "-o", "no/dir/g.dot")),
        _exit70("graph_to_directory", ok, ("graph", "-o", "adir")),
        _exit70("graph_to_dev_full", ok, ("graph", "-o", "/dev/full")),
        _exit70("graph_to_proc", ok, ("graph", "-o", "/proc/version")),
        _exit70("graph_svg_missing_dir", ok, ("graph", "-o", "/missing/dir/g.svg")),
        _exit70("diff_missing_dir", ok, (*AGAINST, "-o", "/missing/dir/plan.json")),
        _exit70("diff_to_dev_full", ok, (*AGAINST, "-o", "/dev/full")),
        _exit70("diff_to_proc", ok, (*AGAINST, "-o", "/proc/version")),
        _exit70("diff_to_root_dir", ok, (*AGAINST, "-o", "/")),
        _exit70(
            "import_missing_dir", ok, ("import", "run", "-o", "/missing/d/s.yaml", "--", "nginx")
        ),
        _exit70("import_to_directory", ok, ("import", "run", "-o", "adir", "--", "nginx")),
        _exit70("import_to_dev_full", ok, ("import", "run", "-o", "/dev/full", "--", "nginx")),
        _exit70("undecodable_label_against", label, AGAINST, env={"LBL": bad}),
        _exit70(
            "undecodable_label_markdown",
            label,
            (*AGAINST, "--format", "markdown"),
            env={"LBL": bad},
        ),
        _exit70("undecodable_label_json", label, (*AGAINST, "--format", "json"), env={"LBL": bad}),
        _exit70("undecodable_label_plan_file", label, (*AGAINST, "-o", "p.json"), env={"LBL": bad}),
        _exit70("undecodable_config", label, ("config",), env={"LBL": bad}),
        _exit70("undecodable_config_json", label, ("config", "--format", "json"), env={"LBL": bad}),
        _exit70(
            "undecodable_env_value",
            _service("    environment:\n      A: ${LBL}\n"),
            AGAINST,
            env={"LBL": bad},
        ),
        _exit70(
            "undecodable_image",
            _service("", "").replace("nginx:1.27", "${LBL}"),
            ("graph",),
            env={"LBL": bad},
        ),
        _exit70("undecodable_lint", label, ("lint", "--format", "sarif"), env={"LBL": bad}),
        _exit70("undecodable_import_env", ok, ("import", "run", "--", "-e", f"A={bad}", "nginx")),
        _exit70(
            "undecodable_stack_path",
            ok,
            ("-f", "st\udcffack.yaml", "config"),
            files={"st\udcffack.yaml": ok},
        ),
        _exit70("undecodable_missing_path", ok, ("-f", "missing\udcff.yaml", "config")),
    ]
    # Memory exhaustion on input: anchors that expand to gigabytes (the address space of the
    # harness is 2 GiB).
    nest = "x-a: &a ['" + "y" * 1_000_000 + "']\n"
    for level in "bcdef":
        prev = chr(ord(level) - 1)
        nest += f"x-{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    out.append(
        _exit70(
            "memory_anchor_nested",
            nest + "name: hostile\nservices:\n  web:\n    image: x\n    labels:\n      a: '1'\n",
            ("config",),
        )
    )
    big = "x" * 1_000_000
    uses = "      - *big\n" * 3000
    out.append(
        _exit70(
            "memory_anchor_command",
            f"x-big: &big '{big}'\nname: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
            f"    command:\n{uses}",
            ("config",),
        )
    )
    return out


def cases() -> list[Case]:
    out = [*_hangs(), *_exits()]
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "case names must be unique"
    return out

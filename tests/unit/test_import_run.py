"""`stackup import run`: a `docker run` line read as a Compose service, written as a stack file
that stackup loads back, with secret-looking values moved to .env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackup.errors import UsageError
from stackup.importing.dockerrun import parse_docker_run, split_command_line
from stackup.importing.writer import write_stack
from stackup.loading.loader import load_text

# (docker run arguments, what the loaded service must show)
LINES: list[tuple[str, dict[str, object]]] = [
    ("-d -p 80:80 nginx", {"image": "nginx", "ports": [(80, "80", None)]}),
    ("-p 127.0.0.1:8080:80/tcp --name web nginx:1.27", {"container_name": "web"}),
    (
        "-v /srv/app:/usr/share/nginx/html:ro nginx",
        {"volumes": [("bind", "/usr/share/nginx/html", True)]},
    ),
    (
        "--mount type=volume,source=data,target=/data busybox",
        {"volumes": [("volume", "/data", False)]},
    ),
    (
        "--mount type=tmpfs,target=/cache,tmpfs-size=1048576 busybox",
        {"volumes": [("tmpfs", "/cache", False)]},
    ),
    ("-e MODE=prod -e PASS_THROUGH busybox", {"environment": {"MODE": "prod"}}),
    ("--network back --network-alias db postgres", {"networks": {"back": ["db"]}}),
    ("--network host busybox", {"network_mode": "host"}),
    ("--restart unless-stopped busybox", {"restart": "unless-stopped"}),
    (
        "--health-cmd 'wget -q -O- http://localhost/' --health-interval 5s --health-retries 3 nginx",
        {"healthcheck_retries": 3},
    ),
    ("--no-healthcheck busybox", {"healthcheck_disable": True}),
    ("--tmpfs /run --read-only busybox", {"tmpfs": ["/run"], "read_only": True}),
    (
        "--cap-drop ALL --cap-add NET_BIND_SERVICE --security-opt no-new-privileges nginx",
        {
            "cap_drop": ["ALL"],
            "cap_add": ["NET_BIND_SERVICE"],
            "security_opt": ["no-new-privileges"],
        },
    ),
    ("-m 256m --cpus 0.5 --pids-limit 100 busybox", {"cpus": "0.5", "pids_limit": 100}),
    (
        "-u 1000:1000 -w /app --entrypoint /bin/sh busybox -c 'echo hi'",
        {
            "user": "1000:1000",
            "working_dir": "/app",
            "entrypoint": ["/bin/sh"],
            "command": ["-c", "echo hi"],
        },
    ),
    (
        "--label team=web -l tier=front --log-driver json-file --log-opt max-size=10m busybox",
        {"labels": {"team": "web", "tier": "front"}},
    ),
    (
        "--add-host db:10.0.0.2 --dns 10.0.0.53 -h box --init busybox",
        {"hostname": "box", "init": True},
    ),
    (
        "--ulimit nofile=1024:2048 --shm-size 64m --stop-signal SIGQUIT --stop-timeout 20 nginx",
        {"stop_signal": "SIGQUIT"},
    ),
    (
        "--expose 8080 --device /dev/null:/dev/xnull --privileged busybox",
        {"expose": ["8080"], "privileged": True},
    ),
    ("-dit --rm busybox sh", {"stdin_open": True, "tty": True, "command": ["sh"]}),
    ("-p80:80 -e=A=1 --restart=always nginx", {"restart": "always", "environment": {"A": "1"}}),
]


def _load(args: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    import shlex

    imported = parse_docker_run(shlex.split(args))
    written = write_stack([imported], str(tmp_path))
    loaded = load_text(written.stack, working_dir=str(tmp_path), environ={}, project_name="imp")
    return imported, written, loaded.stack.services[imported.name]


@pytest.mark.parametrize(("args", "expected"), LINES, ids=[a for a, _ in LINES])
def test_a_docker_run_line_loads_as_the_service_it_describes(
    args: str, expected: dict[str, object], tmp_path: Path
) -> None:
    _, _, service = _load(args, tmp_path)
    for key, want in expected.items():
        if key == "ports":
            got = [(p.target, p.published, p.host_ip) for p in service.ports]
            assert got == want
        elif key == "volumes":
            assert [(v.type, v.target, v.read_only) for v in service.volumes] == want
        elif key == "networks":
            assert {n: a.aliases for n, a in service.networks.items()} == want  # type: ignore[union-attr]
        elif key == "healthcheck_retries":
            assert service.healthcheck is not None and service.healthcheck.retries == want
        elif key == "healthcheck_disable":
            assert service.healthcheck is not None and service.healthcheck.disable is want
        elif key == "environment":
            assert {k: v for k, v in service.environment.items() if k in want} == want  # type: ignore[operator]
        else:
            assert getattr(service, key) == want, key


def test_every_listed_flag_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where the docker run line is typed: --env-file app.env
    args = (
        "-p 80:80 -v /srv:/srv --mount type=bind,source=/etc/hosts,target=/h -e A=1 --env-file app.env "
        "--name box --network net --network-alias a --restart always --health-cmd true "
        "--health-interval 1s --health-timeout 1s --health-retries 1 --health-start-period 1s "
        "--tmpfs /t --read-only --cap-add X --cap-drop Y --security-opt z -m 1g --cpus 1 "
        "--pids-limit 5 -u u -w /w --entrypoint e --label l=1 --log-opt k=v --add-host h:1.2.3.4 "
        "--dns 1.1.1.1 --hostname h --init --ulimit nproc=5 --shm-size 1m --stop-signal S "
        "--stop-timeout 3 --expose 1 --device /dev/null --privileged busybox"
    )
    (tmp_path / "app.env").write_text("B=2\n")
    imported, _, service = _load(args, tmp_path)
    assert imported.notes == []
    assert service.ulimits["nproc"].soft == 5  # type: ignore[union-attr]
    assert service.logging is not None and service.logging.options == {"k": "v"}
    assert service.stop_grace_period is not None and service.stop_grace_period.total_seconds() == 3


def test_an_unknown_flag_is_an_error_naming_it() -> None:
    with pytest.raises(UsageError, match="unknown docker run flag --publsh") as exc:
        parse_docker_run(["--publsh", "80:80", "nginx"])
    assert "--publish" in (exc.value.hint or "")
    with pytest.raises(UsageError, match="unknown docker run flag -Z"):
        parse_docker_run(["-Z", "nginx"])
    with pytest.raises(UsageError, match="no image"):
        parse_docker_run(["-d"])


def test_secret_values_go_to_dotenv_and_bind_sources_become_relative(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    args = f"-v {tmp_path}/app:/usr/share/nginx/html -e DB_PASSWORD=hunter2 -e MODE=prod nginx"
    _, written, service = _load(args, tmp_path)
    assert "hunter2" not in written.stack
    assert "./app:/usr/share/nginx/html" in written.stack
    assert written.dotenv == {"DB_PASSWORD": "hunter2"}
    assert any("DB_PASSWORD looks secret" in w for w in written.warnings)
    assert written.stack.startswith("# yaml-language-server: $schema=")
    assert service.volumes[0].source == str(tmp_path / "app")


def test_the_command_writes_the_files_and_never_overwrites(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "stackup", "import", "run", "-o", "stack.yaml", "--"]
    line = ["docker", "run", "-d", "-p", "127.0.0.1:8080:80", "-e", "API_TOKEN=t0k", "nginx"]
    done = subprocess.run([*run, *line], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "t0k" not in (tmp_path / "stack.yaml").read_text()
    assert (tmp_path / ".env").read_text() == "API_TOKEN='t0k'\n"
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    config = subprocess.run(
        [sys.executable, "-m", "stackup", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert config.returncode == 0
    again = subprocess.run([*run, *line], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists; nothing was written" in again.stderr
    unknown = subprocess.run(
        [*run, "docker", "run", "--frobnicate", "nginx"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and "--frobnicate" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_dollar_signs_stay_literal_and_secrets_elsewhere_move_to_dotenv(tmp_path: Path) -> None:
    args = "-e GREETING=hi$USER --label api_key=k1 --log-opt splunk-token=t2 busybox sh -c 'echo $HOME'"
    _, written, service = _load(args, tmp_path)
    assert service.command == ["sh", "-c", "echo $HOME"]  # not the importing user's $HOME
    assert service.environment["GREETING"] == "hi$USER"
    assert "k1" not in written.stack and "t2" not in written.stack
    assert sorted(written.dotenv.values()) == ["k1", "t2"]
    assert any("2 other secret-looking values" in w for w in written.warnings)
    # Read back with the .env it wrote, the service is the one the line described.
    loaded = load_text(written.stack, working_dir=str(tmp_path), environ=written.dotenv)
    back = loaded.stack.services["busybox"]
    assert back.labels["api_key"] == "k1" and back.logging is not None
    assert back.logging.options["splunk-token"] == "t2"


@pytest.mark.parametrize(
    "flags",
    [
        "-e DATABASE_URL=postgres://app:S3cr3tPw@db/app",
        "--env=STRIPE_SK=S3cr3tPw",
        "-e Conn=Server=db;Password=S3cr3tPw;",
        "--label traefik.http.middlewares.a.token=S3cr3tPw",
        "--health-cmd 'curl http://u:S3cr3tPw@localhost/'",
        "--log-opt splunk-url=https://u:S3cr3tPw@splunk",
    ],
)
def test_every_secret_the_table_recognises_leaves_the_stack_file(
    flags: str, tmp_path: Path
) -> None:
    _, written, _ = _load(f"{flags} nginx", tmp_path)
    assert "S3cr3tPw" not in written.stack
    assert any("S3cr3tPw" in v for v in written.dotenv.values())


def test_a_secret_after_the_image_leaves_the_stack_file(tmp_path: Path) -> None:
    _, written, service = _load("redis redis-server --requirepass S3cr3tPw", tmp_path)
    assert "S3cr3tPw" not in written.stack
    assert service.command is not None and service.command[:2] == ["redis-server", "--requirepass"]


def test_a_pasted_line_and_its_mistakes(tmp_path: Path) -> None:
    from stackup.importing.dockerrun import split_command_line

    line = "docker run -d \\\n  -p 127.0.0.1:8080:80 \\\n  nginx"
    assert parse_docker_run(split_command_line(line)).service["ports"] == ["127.0.0.1:8080:80"]
    with pytest.raises(UsageError, match="cannot split"):
        split_command_line("docker run 'nginx")
    with pytest.raises(UsageError, match="not an image name"):
        parse_docker_run(["-d", "\n"])
    with pytest.raises(UsageError, match="--name 'bad name'"):
        parse_docker_run(["--name", "bad name", "nginx"])
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        parse_docker_run(["-e", "=x", "nginx"])


def test_flag_order_and_values_docker_accepts(tmp_path: Path) -> None:
    args = "--network-alias web --network back --memory-swap -1 -m 64m -q --sig-proxy=false nginx"
    imported, _, service = _load(args, tmp_path)
    assert service.networks["back"].aliases == ["web"]  # type: ignore[union-attr]
    assert service.memswap_limit == -1
    assert any("-q" in note for note in imported.notes)


def test_paths_are_read_from_the_working_directory_for_a_file_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    imported = parse_docker_run(
        ["-v", "./app:/app", "-v", "data:/d", "--env-file", "x.env", "nginx"]
    )
    written = write_stack([imported], str(tmp_path / "sub"))
    assert f"{tmp_path}/app:/app" in written.stack and "data:/d" in written.stack
    assert f"{tmp_path}/x.env" in written.stack


def test_import_container_leaves_out_defaults_and_tool_labels() -> None:
    from stackup.importing.fromcontainer import docker_run_args

    image = {"Config": {"Env": ["PATH=/bin"], "Cmd": ["nginx"], "Labels": {"v": "1"}}}
    container = {
        "Id": "a" * 64,
        "Name": "/web",
        "Config": {
            "Image": "nginx:stable",
            "Env": ["PATH=/bin", "MODE=prod"],
            "Cmd": ["nginx"],
            "Hostname": "vm",
            "Labels": {
                "v": "1",
                "team": "web",
                "io.stackup.spec": "{}",
                "com.docker.compose.project": "x",
            },
        },
        "HostConfig": {
            "NetworkMode": "host",
            "PidMode": "host",
            "IpcMode": "private",
            "Sysctls": {"net.core.somaxconn": "1024"},
            "Mounts": [{"Type": "tmpfs", "Target": "/cache"}],
        },
    }
    args = docker_run_args(container, image)
    assert args[:2] == ["--name", "web"] and args[-1] == "nginx:stable"
    assert "-h" not in args  # under --network host the hostname is the host's
    assert args[args.index("-e") : args.index("-e") + 2] == ["-e", "MODE=prod"]
    assert "io.stackup.spec={}" not in args and "team=web" in args
    assert args[args.index("--pid") : args.index("--pid") + 2] == ["--pid", "host"]
    assert "--ipc" not in args and "net.core.somaxconn=1024" in args
    assert "type=tmpfs,target=/cache" in args


def test_a_podman_line_is_read_as_docker_and_each_podman_only_flag_is_named() -> None:
    line = (
        "podman run -d --pod mypod --userns=keep-id --pull newer --replace "
        "--creds user:hunter2 -p 127.0.0.1:8080:80 --userns host --name web nginx:1.27"
    )
    imp = parse_docker_run(split_command_line(line))
    assert imp.service == {
        "image": "nginx:1.27",
        "ports": ["127.0.0.1:8080:80"],
        "userns_mode": "host",
        "container_name": "web",
    }
    ignored = [n for n in imp.notes if "podman-only" in n]
    assert [n.split(":", 1)[0] for n in ignored] == [
        "--pod",
        "--userns=keep-id",
        "--pull=newer",
        "--replace",
        "--creds",
    ]
    assert not any("hunter2" in n for n in imp.notes)
    # The same flags on a docker line are docker's mistakes.
    with pytest.raises(UsageError, match="unknown docker run flag --pod"):
        parse_docker_run(split_command_line(line.replace("podman", "docker", 1)))


def test_a_single_file_config_mount_warns_and_suggests_its_directory() -> None:
    import shlex

    line = (
        "docker run -d -p 80:80 -v $PWD/app:/usr/share/nginx/html "
        "-v $PWD/default.conf:/etc/nginx/conf.d/default.conf "
        "--mount type=bind,source=./nginx.conf,target=/etc/nginx/nginx.conf nginx"
    )
    notes = parse_docker_run(shlex.split(line)).notes
    single = [n for n in notes if "single-file bind mount" in n]
    assert [n.split(" ", 1)[0] for n in single] == [
        "/etc/nginx/conf.d/default.conf",
        "/etc/nginx/nginx.conf",
    ]
    assert "mount the directory (e.g. ./conf.d:/etc/nginx/conf.d)" in single[0]
    # A directory (conf.d), a web root and a named volume are not single config files.
    directories = (
        "-v $PWD/conf.d:/etc/nginx/conf.d -v $PWD/site:/usr/share/nginx/html -v data:/data"
    )
    assert not parse_docker_run(shlex.split(f"docker run {directories} nginx")).notes

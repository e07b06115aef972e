"""The loader end to end: YAML 1.2 reading, discovery, names, env, profiles, extends, include."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackup.errors import StackFileError, UsageError
from stackup.loading.loader import LoadOptions, load, load_text, normalize_project_name
from stackup.loading.yamlsource import MAX_NODES
from stackup.model.sensitive import is_sensitive_name


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_yaml_12_core_schema_scalars() -> None:
    loaded = load_text(
        "services:\n  web:\n    image: nginx\n    restart: no\n    ports: [80:80]\n"
        "    labels: {a: yes, b: on, c: off, d: True, e: 0x10}\n    read_only: TRUE\n",
        project_name="t",
        environ={},
    )
    web = loaded.stack.services["web"]
    assert web.restart == "no"
    assert web.ports[0].published == "80" and web.ports[0].target == 80
    assert web.labels == {"a": "yes", "b": "on", "c": "off", "d": "true", "e": "16"}
    assert web.read_only is True


def test_anchors_aliases_and_merge_keys() -> None:
    text = """
x-common: &common
  image: app:1
  environment: {LOG: info, MODE: a}
services:
  a:
    <<: *common
  b:
    <<: *common
    environment: {MODE: b}
"""
    stack = load_text(text, project_name="t", environ={}).stack
    assert stack.services["a"].image == "app:1"
    assert stack.services["a"].environment == {"LOG": "info", "MODE": "a"}
    assert stack.services["b"].environment == {"MODE": "b"}


def test_marks_are_one_based_and_per_path() -> None:
    loaded = load_text("services:\n  web:\n    image: nginx\n", project_name="t", environ={})
    mark = loaded.source.value(("services", "web", "image"))
    key = loaded.source.key(("services", "web", "image"))
    assert mark is not None and (mark.file, mark.line, mark.column) == ("stack.yaml", 3, 12)
    assert key is not None and (key.line, key.column) == (3, 5)


def test_discovery_order_and_override_file(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", "services:\n  web:\n    image: from-compose\n")
    write(tmp_path / "stack.yaml", "services:\n  web:\n    image: from-stack\n")
    write(tmp_path / "stack.override.yaml", "services:\n  web:\n    environment: {A: '1'}\n")
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}))
    web = loaded.stack.services["web"]
    assert web.image == "from-stack" and web.environment == {"A": "1"}
    assert loaded.files == (tmp_path / "stack.yaml", tmp_path / "stack.override.yaml")


def test_no_file_found_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(StackFileError) as info:
        load(LoadOptions(working_dir=tmp_path, environ={}))
    assert "stack.yaml" in str(info.value) and "docker-compose.yml" in str(info.value)


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match=r"not found: nope\.yaml"):
        load(LoadOptions(files=(Path("nope.yaml"),), working_dir=tmp_path, environ={}))


@pytest.mark.parametrize(
    ("directory", "name"),
    [("My Project", "myproject"), ("__Web.App-2", "webapp-2"), ("ok_name", "ok_name")],
)
def test_project_name_from_directory(directory: str, name: str) -> None:
    assert normalize_project_name(directory) == name


def test_project_name_precedence(tmp_path: Path) -> None:
    d = tmp_path / "Some Dir"
    write(d / "stack.yaml", "services:\n  web:\n    image: nginx\n")
    assert load(LoadOptions(working_dir=d, environ={})).stack.name == "somedir"
    write(d / "stack.yaml", "name: fromfile\nservices:\n  web:\n    image: nginx\n")
    assert load(LoadOptions(working_dir=d, environ={})).stack.name == "fromfile"
    env = {"COMPOSE_PROJECT_NAME": "fromenv"}
    assert load(LoadOptions(working_dir=d, environ=env)).stack.name == "fromenv"
    assert load(LoadOptions(working_dir=d, environ=env, project_name="flag")).stack.name == "flag"
    with pytest.raises(UsageError):
        load(LoadOptions(working_dir=d, environ={}, project_name="Bad Name"))


def test_dotenv_and_environment_precedence(tmp_path: Path) -> None:
    write(tmp_path / ".env", "TAG=fromdotenv\nOTHER=x\n")
    write(tmp_path / "stack.yaml", "services:\n  web:\n    image: nginx:${TAG}-${OTHER}\n")
    assert (
        load(LoadOptions(working_dir=tmp_path, environ={})).stack.services["web"].image
        == "nginx:fromdotenv-x"
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={"TAG": "os"}))
    assert loaded.stack.services["web"].image == "nginx:os-x"
    assert tmp_path / ".env" in loaded.files


def test_env_file_option_replaces_dotenv(tmp_path: Path) -> None:
    write(tmp_path / ".env", "TAG=fromdotenv\n")
    write(tmp_path / "prod.env", "TAG=prod\n")
    write(tmp_path / "stack.yaml", "services:\n  web:\n    image: nginx:${TAG:-none}\n")
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}, env_files=(Path("prod.env"),)))
    assert loaded.stack.services["web"].image == "nginx:prod"


def test_service_env_file_merges_under_environment(tmp_path: Path) -> None:
    write(tmp_path / "app.env", "A=from-file\nB=from-file\nC=${HOST_VAR}\n")
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    env_file: app.env\n"
        "    environment:\n      - B=inline\n      - PASSTHRU\n      - ABSENT\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={"PASSTHRU": "p", "HOST_VAR": "h"}))
    web = loaded.stack.services["web"]
    assert web.environment == {
        "A": "from-file",
        "B": "inline",
        "C": "h",
        "PASSTHRU": "p",
        "ABSENT": None,
    }
    assert web.env_file[0].path == str(tmp_path / "app.env")
    assert tmp_path / "app.env" in loaded.files


def test_optional_env_file_may_be_missing(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    env_file:\n      - path: nope.env\n        required: false\n",
    )
    assert (
        load(LoadOptions(working_dir=tmp_path, environ={})).stack.services["web"].environment == {}
    )


def test_profiles(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [debug]\n"
        "  tools:\n    image: busybox\n    profiles: [tools, debug]\n",
    )
    base = LoadOptions(working_dir=tmp_path, environ={})
    assert set(load(base).stack.services) == {"web"}
    with_tools = LoadOptions(working_dir=tmp_path, environ={}, profiles=("tools",))
    assert set(load(with_tools).stack.services) == {"web", "tools"}
    from_env = LoadOptions(working_dir=tmp_path, environ={"COMPOSE_PROFILES": "debug"})
    assert set(load(from_env).stack.services) == {"web", "debug", "tools"}
    everything = LoadOptions(working_dir=tmp_path, environ={}, profiles=("*",))
    assert set(load(everything).stack.services) == {"web", "debug", "tools"}


def test_optional_dependency_on_disabled_service_is_dropped(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    depends_on:\n      debug:\n        required: false\n"
        "  debug:\n    image: busybox\n    profiles: [debug]\n",
    )
    stack = load(LoadOptions(working_dir=tmp_path, environ={})).stack
    assert stack.services["web"].depends_on == {}


def test_extends_same_file_and_other_file(tmp_path: Path) -> None:
    write(
        tmp_path / "common" / "base.yaml",
        "services:\n  app:\n    build: ./src\n    environment: {LEVEL: base, KEEP: k}\n"
        "    volumes: ['./conf:/conf']\n",
    )
    write(
        tmp_path / "stack.yaml",
        "services:\n  base:\n    image: nginx\n    ports: ['80']\n  web:\n    extends: base\n    ports: ['81']\n"
        "  api:\n    extends:\n      file: common/base.yaml\n      service: app\n    environment: {LEVEL: api}\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}))
    web = loaded.stack.services["web"]
    assert web.image == "nginx" and [p.target for p in web.ports] == [80, 81]
    api = loaded.stack.services["api"]
    assert api.environment == {"LEVEL": "api", "KEEP": "k"}
    assert api.build is not None and api.build.context == str(tmp_path / "common" / "src")
    assert api.volumes[0].source == str(tmp_path / "common" / "conf")
    assert tmp_path / "common" / "base.yaml" in loaded.files


def test_include_short_and_long_forms(tmp_path: Path) -> None:
    write(
        tmp_path / "db" / "compose.yaml",
        "services:\n  db:\n    image: postgres:${PG:-15}\n    volumes: ['./init:/init']\n",
    )
    write(tmp_path / "cache" / "cache.yaml", "services:\n  cache:\n    image: redis:${REDIS}\n")
    write(tmp_path / "cache" / "vars.env", "REDIS=7\n")
    write(
        tmp_path / "stack.yaml",
        "include:\n  - db/compose.yaml\n  - path: cache/cache.yaml\n    env_file: cache/vars.env\n"
        "services:\n  web:\n    image: nginx\n    depends_on: [db, cache]\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}))
    stack = loaded.stack
    assert stack.services["db"].image == "postgres:15"
    assert stack.services["db"].volumes[0].source == str(tmp_path / "db" / "init")
    assert stack.services["cache"].image == "redis:7"
    assert set(stack.services["web"].depends_on) == {"db", "cache"}
    assert {
        tmp_path / "db" / "compose.yaml",
        tmp_path / "cache" / "cache.yaml",
        tmp_path / "cache" / "vars.env",
    } <= set(loaded.files)


def test_relative_paths_become_absolute(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    build:\n      context: ./app\n      dockerfile: Dockerfile.dev\n"
        "    volumes:\n      - ./site:/site\n      - ~/cache:/cache\n      - type: bind\n        source: conf\n        target: /conf\n"
        "    develop:\n      watch:\n        - path: ./src\n          action: sync\n          target: /src\n"
        "secrets:\n  key:\n    file: ./key.txt\n",
    )
    stack = load(LoadOptions(working_dir=tmp_path, environ={})).stack
    web = stack.services["web"]
    assert web.build is not None and web.build.context == str(tmp_path / "app")
    assert web.build.dockerfile == "Dockerfile.dev"
    assert web.volumes[0].source == str(tmp_path / "site")
    assert web.volumes[1].source == str(Path("~/cache").expanduser())
    assert web.volumes[2].source == str(tmp_path / "conf")
    assert web.develop is not None and web.develop.watch[0].path == str(tmp_path / "src")
    assert stack.secrets["key"].file == str(tmp_path / "key.txt")


def test_remote_build_context_is_kept() -> None:
    stack = load_text(
        "services:\n  web:\n    build: https://github.com/example/app.git#main\n",
        project_name="t",
        environ={},
    ).stack
    assert stack.services["web"].build is not None
    assert stack.services["web"].build.context == "https://github.com/example/app.git#main"


def test_read_text_hook_reads_without_the_filesystem(tmp_path: Path) -> None:
    files = {tmp_path / "stack.yaml": "services:\n  web:\n    image: from-git\n"}

    def read(path: Path) -> str:
        if path in files:
            return files[path]
        raise FileNotFoundError(path)

    loaded = load(
        LoadOptions(files=(Path("stack.yaml"),), working_dir=tmp_path, environ={}, read_text=read)
    )
    assert loaded.stack.services["web"].image == "from-git"


def test_a_large_legitimate_file_loads() -> None:
    lines = ["services:"]
    for i in range(400):
        lines += [f"  s{i}:", "    image: busybox", "    environment:"]
        lines += [f"      VAR_{j}: value-{j}" for j in range(100)]
    stack = load_text("\n".join(lines) + "\n", project_name="t", environ={}).stack
    assert len(stack.services) == 400
    assert MAX_NODES >= 1_000_000


def test_sensitive_names() -> None:
    for name in (
        "DB_PASSWORD",
        "api_key",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "PRIVATE_PEM",
        "MYSQL_ROOT_PASSWD",
    ):
        assert is_sensitive_name(name)
    for name in ("HOME", "LOG_LEVEL", "PORT", "KEYBOARD"):
        assert not is_sensitive_name(name)
    assert is_sensitive_name("DSN", extra=["dsn"])


GOOD = Path(__file__).resolve().parent.parent / "fixtures" / "good"
GOOD_FILES = sorted(GOOD.glob("*.yaml"))


@pytest.mark.parametrize("fixture", GOOD_FILES, ids=[f.stem for f in GOOD_FILES])
def test_real_world_files_load_with_exit_0(
    fixture: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from stackup.cli import main

    monkeypatch.chdir(fixture.parent)
    monkeypatch.setattr(sys, "argv", ["stackup", "-f", fixture.name, "config", "--format", "json"])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert '"services"' in out


def test_env_file_raw_format(tmp_path: Path) -> None:
    write(tmp_path / "app.env", 'JSON={"a": "$HOST_VAR"}\nQ=\'kept\'\n')
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    env_file:\n"
        "      - {path: app.env, format: raw}\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={"HOST_VAR": "h"}))
    assert loaded.stack.services["web"].environment == {"JSON": '{"a": "$HOST_VAR"}', "Q": "'kept'"}


def test_compose_project_name_interpolates(tmp_path: Path) -> None:
    app = tmp_path / "My_App"
    app.mkdir()
    write(
        app / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    hostname: ${COMPOSE_PROJECT_NAME}\n",
    )
    assert load(LoadOptions(working_dir=app, environ={})).stack.services["web"].hostname == "my_app"
    env = {"COMPOSE_PROJECT_NAME": "fromenv"}
    assert (
        load(LoadOptions(working_dir=app, environ=env)).stack.services["web"].hostname == "fromenv"
    )
    named = load(LoadOptions(working_dir=app, environ=env, project_name="given"))
    assert named.stack.services["web"].hostname == "given"


def test_top_level_name_is_what_compose_project_name_stands_for(tmp_path: Path) -> None:
    app = tmp_path / "dir"
    app.mkdir()
    write(
        app / "stack.yaml",
        'name: "shop-${TIER:-dev}"\nservices:\n  web:\n    image: nginx\n'
        "    hostname: ${COMPOSE_PROJECT_NAME}\n",
    )
    write(app / "override.yaml", "name: shop-${TIER}\n")
    loaded = load(LoadOptions(working_dir=app, environ={}))
    assert loaded.stack.name == "shop-dev"
    assert loaded.stack.services["web"].hostname == "shop-dev"
    # The last file naming the project wins, for both, as in compose-go.
    two = load(
        LoadOptions(
            working_dir=app,
            files=(Path("stack.yaml"), Path("override.yaml")),
            environ={"TIER": "prod"},
        )
    )
    assert two.stack.name == "shop-prod"
    assert two.stack.services["web"].hostname == "shop-prod"
    # -p and COMPOSE_PROJECT_NAME still win over `name:`.
    given = load(LoadOptions(working_dir=app, environ={"COMPOSE_PROJECT_NAME": "env"}))
    assert given.stack.name == given.stack.services["web"].hostname == "env"
    flagged = load(LoadOptions(working_dir=app, environ={}, project_name="flag"))
    assert flagged.stack.name == flagged.stack.services["web"].hostname == "flag"


def test_compose_file_variable_lists_the_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "services:\n  web:\n    image: nginx:1\n")
    write(tmp_path / "b.yaml", "services:\n  web:\n    image: nginx:2\n")
    env = {"COMPOSE_FILE": "a.yaml;b.yaml", "COMPOSE_PATH_SEPARATOR": ";"}
    loaded = load(LoadOptions(working_dir=tmp_path, environ=env, project_name="t"))
    assert loaded.stack.services["web"].image == "nginx:2"
    assert loaded.files == (tmp_path / "a.yaml", tmp_path / "b.yaml")


def test_config_output_as_compose_writes_it(tmp_path: Path) -> None:
    from stackup.cli.config_cmd import resolved_document

    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    build:\n      context: .\n      args: [VERSION, UNSET]\n"
        "    pull_policy: if_not_present\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={"VERSION": "1.2"}, project_name="t"))
    web = resolved_document(loaded.stack)["services"]["web"]
    assert web["pull_policy"] == "missing"
    assert web["build"]["dockerfile"] == "Dockerfile"
    assert web["build"]["args"] == {"VERSION": "1.2", "UNSET": None}


def test_discovery_searches_parent_directories(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", "services:\n  web:\n    image: nginx\n")
    (tmp_path / "src" / "deep").mkdir(parents=True)
    loaded = load(LoadOptions(working_dir=tmp_path / "src" / "deep", environ={}))
    assert loaded.files == (tmp_path / "compose.yaml",)
    assert loaded.project_directory == tmp_path


def test_compose_file_from_dotenv(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", "services:\n  web:\n    image: nginx:1\n")
    write(tmp_path / ".env", "COMPOSE_FILE=one.yaml\n")
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}, project_name="t"))
    assert loaded.stack.services["web"].image == "nginx:1"


def test_config_output_lists_implicit_dependencies(tmp_path: Path) -> None:
    from stackup.cli.config_cmd import resolved_document

    write(
        tmp_path / "stack.yaml",
        "services:\n  db: {image: pg}\n  cache: {image: redis}\n  files: {image: busybox}\n"
        "  web:\n    image: nginx\n    links: ['db:database']\n"
        "    volumes_from: ['files:ro']\n"
        "  side:\n    image: busybox\n    network_mode: service:cache\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}, project_name="t"))
    services = resolved_document(loaded.stack)["services"]
    assert sorted(services["web"]["depends_on"]) == ["db", "files"]
    assert list(services["side"]["depends_on"]) == ["cache"]


def test_config_output_keeps_extensions(tmp_path: Path) -> None:
    from stackup.cli.config_cmd import resolved_document, restore_extensions

    write(
        tmp_path / "stack.yaml",
        "x-common: &c {team: a}\nservices:\n  web:\n    image: nginx\n    x-owner: b\n"
        "    ports:\n      - {target: 80, x-note: web}\n"
        "networks:\n  front: {x-tier: edge}\n",
    )
    loaded = load(LoadOptions(working_dir=tmp_path, environ={}, project_name="t"))
    data = resolved_document(loaded.stack)
    restore_extensions(data, loaded.extensions)
    assert data["x-common"] == {"team": "a"}
    assert data["services"]["web"]["x-owner"] == "b"
    assert data["services"]["web"]["ports"][0]["x-note"] == "web"
    assert data["networks"]["front"]["x-tier"] == "edge"


def test_project_directory_without_files_is_searched(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "compose.yaml", "services:\n  web:\n    image: ${TAG}\n")
    write(tmp_path / "proj" / "one.env", "TAG=nginx:1\n")
    env = {"COMPOSE_ENV_FILES": "proj/one.env"}
    loaded = load(LoadOptions(working_dir=tmp_path, environ=env, project_directory=Path("proj")))
    assert tmp_path / "proj" / "compose.yaml" in loaded.files
    assert loaded.stack.services["web"].image == "nginx:1"


def test_container_paths_are_cleaned_as_compose_cleans_them(tmp_path: Path) -> None:
    write(
        tmp_path / "stack.yaml",
        "services:\n  web:\n    image: nginx\n    volumes:\n      - ./d:/var/lib//data/\n"
        "      - {type: volume, source: v, target: /srv/./x/}\n"
        "      - {type: npipe, source: '\\\\.\\pipe\\a', target: '\\\\.\\pipe\\a'}\n"
        "    secrets:\n      - {source: s, target: /run/secrets//s/}\n"
        "volumes:\n  v: {}\nsecrets:\n  s:\n    file: ./s.txt\n",
    )
    web = load(LoadOptions(working_dir=tmp_path, environ={}, project_name="t")).stack.services[
        "web"
    ]
    assert [v.target for v in web.volumes] == ["/var/lib/data", "/srv/x", "\\\\.\\pipe\\a"]
    assert web.secrets[0].target == "/run/secrets/s"

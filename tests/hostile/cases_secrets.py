"""Hostile inputs of issue 26 about secrets, by class: a planted secret (`SECRET`) must never be
printed, in any mode, errors included.

- "leak-error": an error about a field whose value was built from a secret variable;
- "taint": a value built from a secret variable, in a field the masking once missed;
- "name-rules": a secret in the file itself, recognised by its shape or its name (URL userinfo,
  connection strings, option strings, hashes, key blocks, registry auth, token names);
- "import": `import run` lines carrying secrets (explicit args: it reads no stack file).

Cases with empty `args` run in every mode of the corpus harness (config, diff, lint, graph).
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.unit.hostile_cases import SECRET, Case

S = SECRET
BASE = "name: hostile\nservices:\n  web:\n    image: nginx:1.27\n"
SECRET_ENV = {"DB_PASSWORD": S}


def _stack(services: str, extra: str = "") -> str:
    return f"name: hostile\nservices:\n{services}{extra}"


def _svc(body: str = "", name: str = "web") -> str:
    return f"  {name}:\n    image: nginx:1.27\n{body}"


def _case(klass: str, name: str, text: str, **kw: object) -> Case:
    files = {"stack.yaml": text, "base.yaml": BASE}
    extra = kw.pop("files", None)
    if isinstance(extra, dict):
        files.update(extra)
    return Case(f"{klass}_{name}", files, klass=klass, **kw)  # type: ignore[arg-type]


def _leak_error() -> Iterator[Case]:
    """A field that rejects the value: the error names the place, never the value."""
    v = "${DB_PASSWORD}"
    fields = {
        "mem_limit": f"    mem_limit: {v}\n",
        "shm_size": f"    shm_size: {v}\n",
        "memswap_limit": f"    memswap_limit: '{v}'\n",
        "mem_reservation": f"    mem_reservation: '{v}'\n",
        "cpus": f"    cpus: {v}\n",
        "pids_limit": f"    pids_limit: {v}\n",
        "cpu_shares": f"    cpu_shares: {v}\n",
        "oom_score_adj": f"    oom_score_adj: {v}\n",
        "privileged": f"    privileged: {v}\n",
        "read_only": f"    read_only: {v}\n",
        "init": f"    init: {v}\n",
        "stop_grace_period": f"    stop_grace_period: {v}\n",
        "health_interval": f"    healthcheck:\n      test: [CMD, 'true']\n      interval: {v}\n",
        "health_retries": f"    healthcheck:\n      test: [CMD, 'true']\n      retries: {v}\n",
        "restart": f"    restart: {v}\n",
        "pull_policy": f"    pull_policy: {v}\n",
        "port_short": f"    ports:\n      - '{v}:80'\n",
        "port_long_target": f"    ports:\n      - target: {v}\n",
        "port_long_published": f"    ports:\n      - target: 80\n        published: '{v}'\n",
        "port_protocol": f"    ports:\n      - target: 80\n        protocol: {v}\n",
        "port_mode": f"    ports:\n      - target: 80\n        mode: {v}\n",
        "ulimit_single": f"    ulimits:\n      nofile: {v}\n",
        "ulimit_soft": f"    ulimits:\n      nofile:\n        soft: {v}\n        hard: 10\n",
        "volume_mode": f"    volumes:\n      - './site:/usr/share/nginx/html:{v}'\n",
        "volume_type": f"    volumes:\n      - type: {v}\n        source: ./site\n        target: /x\n",
        "extends_base": f"    extends: {v}\n",
        "extends_service": f"    extends:\n      service: {v}\n",
        "depends_condition": f"    depends_on:\n      db:\n        condition: {v}\n",
        "depends_missing": f"    depends_on: ['{v}']\n",
        "network_missing": f"    networks: ['{v}']\n",
        "secret_missing": f"    secrets: ['{v}']\n",
        "config_missing": f"    configs: ['{v}']\n",
        "volume_missing": f"    volumes: ['{v}:/data']\n",
        "replicas": f"    deploy:\n      replicas: {v}\n",
        "scale": f"    scale: {v}\n",
        "cap_add": f"    cap_add: ['{v}']\n",
        "logging_driver_bool": f"    tty: {v}\n",
        "stop_signal_int": f"    stop_grace_period: '1{v}'\n",
    }
    db = "  db:\n    image: nginx:1.27\n"
    for label, body in fields.items():
        text = _stack(_svc(body) + (db if label == "depends_condition" else ""))
        yield _case("leak-error", label, text, env=SECRET_ENV)
    # The same variable read from .env, from --env-file's file and through a default.
    text = _stack(_svc("    mem_limit: ${DB_PASSWORD}\n"))
    yield _case("leak-error", "dotenv_mem_limit", text, files={".env": f"DB_PASSWORD={S}\n"})
    yield _case(
        "leak-error",
        "dotenv_restart",
        _stack(_svc("    restart: ${API_TOKEN}\n")),
        files={".env": f"API_TOKEN={S}\n"},
    )
    yield _case(
        "leak-error",
        "default_of_secret",
        _stack(_svc(f"    cpus: ${{DB_PASSWORD:-{S}}}\n")),
    )
    yield _case(
        "leak-error",
        "nested_default",
        _stack(_svc("    pids_limit: ${UNSET_THING:-${DB_PASSWORD}}\n")),
        env=SECRET_ENV,
    )
    yield _case(
        "leak-error",
        "secret_as_part",
        _stack(_svc("    mem_limit: 12${DB_PASSWORD}\n")),
        env=SECRET_ENV,
    )
    # Top-level resources: a volume's, a network's fields.
    yield _case(
        "leak-error",
        "network_internal",
        _stack(
            _svc("    networks: [back]\n"), "networks:\n  back:\n    internal: ${DB_PASSWORD}\n"
        ),
        env=SECRET_ENV,
    )
    yield _case(
        "leak-error",
        "volume_external",
        _stack(
            _svc("    volumes: ['data:/d']\n"), "volumes:\n  data:\n    external: ${DB_PASSWORD}\n"
        ),
        env=SECRET_ENV,
    )


def _taint() -> Iterator[Case]:
    """A value built from a secret variable, in fields the masking once stopped at."""
    v = "${DB_PASSWORD}"
    bodies = {
        "annotations": f"    annotations:\n      com.example.note: 'x{v}'\n",
        "logging_options": f"    logging:\n      driver: json-file\n      options:\n        tag: '{v}'\n",
        "post_start": f"    post_start:\n      - command: ['sh', '-c', 'echo {v}']\n",
        "pre_stop": f"    pre_stop:\n      - command: ['sh', '-c', 'echo {v}']\n",
        "x_service": f"    x-notes: 'seed {v}'\n",
        "dns": f"    dns: ['{v}']\n",
        "dns_search": f"    dns_search: ['{v}']\n",
        "extra_hosts": f"    extra_hosts: ['db:{v}']\n",
        "mac_address": f"    mac_address: '{v}'\n",
        "network_mode": f"    network_mode: '{v}'\n",
        "tmpfs_options": f"    tmpfs: ['/run:{v}']\n",
        "label_plain": f"    labels:\n      com.example.note: 'x{v}'\n",
        "healthcheck_test": f"    healthcheck:\n      test: ['CMD', 'curl', '-H', 'X: {v}']\n",
        "entrypoint": f"    entrypoint: ['run', 'x{v}']\n",
        "command_string": f"    command: 'echo {v}'\n",
        "hostname": f"    hostname: 'h{v}'\n",
        "user": f"    user: '{v}'\n",
        "working_dir": f"    working_dir: '/{v}'\n",
        "sysctls": f"    sysctls:\n      net.core.somaxconn: '{v}'\n",
        "build_args": f"    build:\n      context: .\n      args:\n        SEED: '{v}'\n",
        "deploy_labels": f"    deploy:\n      labels:\n        note: '{v}'\n",
        "env_default": f"    environment:\n      NOTE: '${{NOTE_UNSET:-{v}}}'\n",
    }
    for label, body in bodies.items():
        yield _case("taint", label, _stack(_svc(body)), env=SECRET_ENV)
    yield _case(
        "taint",
        "ipv4_address",
        _stack(
            _svc(f"    networks:\n      back:\n        ipv4_address: '{v}'\n"),
            "networks:\n  back: {}\n",
        ),
        env=SECRET_ENV,
    )
    yield _case(
        "taint",
        "x_top_level",
        _stack(_svc(), f"x-notes:\n  seed: '{v}'\n"),
        env=SECRET_ENV,
    )
    yield _case(
        "taint",
        "config_content",
        _stack(_svc("    configs: [app]\n"), f"configs:\n  app:\n    content: 'pw={v}'\n"),
        env=SECRET_ENV,
    )
    yield _case(
        "taint",
        "volume_driver_opts",
        _stack(
            _svc("    volumes: ['data:/d']\n"),
            f"volumes:\n  data:\n    driver_opts:\n      o: 'addr=10.0.0.1,{v}'\n",
        ),
        env=SECRET_ENV,
    )
    yield _case(
        "taint",
        "network_driver_opts",
        _stack(
            _svc("    networks: [back]\n"),
            f"networks:\n  back:\n    driver_opts:\n      com.example.seed: '{v}'\n",
        ),
        env=SECRET_ENV,
    )
    yield _case(
        "taint",
        "network_labels",
        _stack(
            _svc("    networks: [back]\n"),
            f"networks:\n  back:\n    labels:\n      note: '{v}'\n",
        ),
        env=SECRET_ENV,
    )
    # A secret as the default of a sensitive variable that is unset.
    yield _case(
        "taint",
        "default_literal",
        _stack(_svc(f"    environment:\n      NOTE: '${{DB_PASSWORD:-{S}}}'\n")),
    )
    yield _case(
        "taint",
        "default_literal_label",
        _stack(_svc(f"    labels:\n      note: '${{API_TOKEN:-{S}}}'\n")),
    )
    # Through .env, into fields that are not environment.
    yield _case(
        "taint",
        "dotenv_dns",
        _stack(_svc("    dns: ['${DB_PASSWORD}']\n")),
        files={".env": f"DB_PASSWORD={S}\n"},
    )
    yield _case(
        "taint",
        "dotenv_logging",
        _stack(_svc("    logging:\n      options:\n        tag: '${SECRET_KEY}'\n")),
        files={".env": f"SECRET_KEY={S}\n"},
    )
    yield _case(
        "taint",
        "env_file_cli",
        _stack(_svc("    annotations:\n      a: '${DB_PASSWORD}'\n")),
        files={"vars.env": f"DB_PASSWORD={S}\n"},
    )


def _name_rules() -> Iterator[Case]:
    """Secrets written into the file, recognised by their shape, not only by a variable name."""
    env = {
        "database_url": f"DATABASE_URL: 'postgres://app:{S}@db:5432/app'",
        "redis_url": f"REDIS_URL: 'redis://:{S}@redis:6379/0'",
        "mongo_uri": f"MONGO_URI: 'mongodb://root:{S}@mongo:27017'",
        "amqp_url": f"AMQP_URL: 'amqp://guest:{S}@rabbit:5672/'",
        "dotnet_conn": f"ConnectionStrings__Default: 'Server=db;Database=app;User Id=sa;Password={S};'",
        "dotnet_conn_pwd": f"SQL: 'Data Source=db;Initial Catalog=app;User ID=sa;Pwd={S}'",
        "stripe_sk": f"STRIPE_SK: 'sk_live_{S}'",
        "gh_pat": f"GH_PAT: 'ghp_{S}'",
        "x_auth_token": f"X_AUTH_TOKEN: '{S}'",
        "jdbc_query": f"JDBC: 'jdbc:postgresql://db/app?user=app&password={S}'",
        "sqlalchemy": f"SQLALCHEMY_DATABASE_URI: 'mysql+pymysql://u:{S}@db/x'",
        "broker": f"CELERY_BROKER: 'redis://:{S}@redis/0'",
        "sha512_hash": f"ROOT_LINE: '$$6$$rounds=5000$$salt$${S}'",
        "bcrypt_hash": f"USERS: 'admin:$$2b$$12$${S}'",
        "argon2_hash": f"ADMIN: '$$argon2id$$v=19$$m=65536,t=3,p=4$$c2FsdA$${S}'",
        "pem_key": f'CERT_BUNDLE: "-----BEGIN RSA PRIVATE KEY-----\\n{S}\\n-----END RSA PRIVATE KEY-----"',
        "registry_auth": f'REGISTRY_CFG: \'{{"auths": {{"reg.example": {{"auth": "{S}"}}}}}}\'',
    }
    for label, line in env.items():
        yield _case("name-rules", label, _stack(_svc(f"    environment:\n      {line}\n")))
    yield _case(
        "name-rules",
        "env_list_url",
        _stack(_svc(f"    environment:\n      - 'PRIMARY=postgres://app:{S}@db/app'\n")),
    )
    bodies = {
        "label_x_auth_token": f"    labels:\n      x-auth-token: '{S}'\n",
        "label_url": f"    labels:\n      com.example.db: 'postgres://u:{S}@db'\n",
        "requirepass_string": f"    command: 'redis-server --requirepass {S}'\n",
        "requirepass_list": f"    command: ['redis-server', '--requirepass', '{S}']\n",
        "password_in_options": f"    command: ['mount', '-o', 'username=u,password={S}', '/x']\n",
        "db_url_flag": f"    command: ['app', '--db-url=postgres://u:{S}@h/x']\n",
        "curl_header": f"    healthcheck:\n      test: ['CMD', 'curl', '-H', 'x-auth-token: {S}', 'http://localhost']\n",
        "health_userinfo": f"    healthcheck:\n      test: ['CMD', 'curl', 'http://admin:{S}@localhost/']\n",
        "splunk_token": f"    logging:\n      driver: splunk\n      options:\n        splunk-token: '{S}'\n",
        "splunk_url": f"    logging:\n      driver: splunk\n      options:\n        splunk-url: 'https://u:{S}@splunk'\n",
        "entrypoint_requirepass": f"    entrypoint: ['redis-server', '--requirepass={S}']\n",
        "x_field_url": f"    x-backup: 'postgres://u:{S}@db/app'\n",
        "build_arg_pat": f"    build:\n      context: .\n      args:\n        GH_PAT: '{S}'\n",
        "annotation_url": f"    annotations:\n      com.example.db: 'mysql://u:{S}@db'\n",
    }
    for label, body in bodies.items():
        yield _case("name-rules", label, _stack(_svc(body)))
    yield _case(
        "name-rules",
        "volume_opts_password",
        _stack(
            _svc("    volumes: ['data:/d']\n"),
            "volumes:\n  data:\n    driver: local\n    driver_opts:\n      type: cifs\n"
            f"      o: 'addr=10.0.0.1,username=u,password={S}'\n",
        ),
    )
    yield _case(
        "name-rules",
        "config_content_key",
        _stack(
            _svc("    configs: [tls]\n"),
            "configs:\n  tls:\n    content: |\n      -----BEGIN PRIVATE KEY-----\n"
            f"      {S}\n      -----END PRIVATE KEY-----\n",
        ),
    )
    yield _case(
        "name-rules",
        "config_content_registry_auth",
        _stack(
            _svc("    configs: [docker]\n"),
            f'configs:\n  docker:\n    content: \'{{"auths":{{"r.example":{{"auth":"{S}"}}}}}}\'\n',
        ),
    )
    yield _case(
        "name-rules",
        "x_top_level_conn",
        _stack(_svc(), f"x-db:\n  dsn: 'Host=db;Username=app;Password={S}'\n"),
    )


def _import() -> Iterator[Case]:
    """`import run`: a secret goes to .env (with -o) or is masked when printed; never echoed."""
    run = ("import", "run", "--", "docker", "run")
    lines: dict[str, tuple[str, ...]] = {
        "e_database_url": ("-e", f"DATABASE_URL=postgres://app:{S}@db/app", "nginx"),
        "env_eq_stripe": (f"--env=STRIPE_SK=sk_live_{S}", "nginx"),
        "env_stripe": ("--env", f"STRIPE_SK=sk_live_{S}", "nginx"),
        "e_redis": ("-e", f"REDIS_URL=redis://:{S}@r:6379", "nginx"),
        "e_mongo": ("-e", f"MONGO_URI=mongodb://u:{S}@m", "nginx"),
        "e_amqp": ("-e", f"AMQP_URL=amqp://u:{S}@q", "nginx"),
        "e_dotnet": ("-e", f"Conn=Server=db;User Id=sa;Password={S};", "nginx"),
        "e_gh_pat": ("-e", f"GH_PAT={S}", "nginx"),
        "e_x_auth_token": ("-e", f"X_AUTH_TOKEN={S}", "nginx"),
        "unknown_password_flag": (f"--password={S}", "nginx"),
        "unknown_flag_value": (f"--no-such-flag={S}", "nginx"),
        "label_token": ("--label", f"traefik.http.middlewares.a.token={S}", "nginx"),
        "label_eq_token": (f"--label=com.example.api-token={S}", "nginx"),
        "label_auth": ("-l", f"x-auth-token={S}", "nginx"),
        "log_opt_splunk": ("--log-driver", "splunk", "--log-opt", f"splunk-token={S}", "nginx"),
        "log_opt_eq_splunk": (f"--log-opt=splunk-token={S}", "nginx"),
        "log_opt_url": ("--log-opt", f"splunk-url=https://u:{S}@splunk", "nginx"),
        "command_requirepass": ("redis", "redis-server", "--requirepass", S),
        "command_password_eq": ("mysql", "mysqld", f"--password={S}"),
        "health_cmd_userinfo": ("--health-cmd", f"curl http://u:{S}@localhost/", "nginx"),
        "mount_volume_opt": (
            "--mount",
            f"type=volume,src=v,dst=/d,volume-opt=o=addr=1.2.3.4,password={S}",
            "nginx",
        ),
        "bad_memory_value": ("-e", f"DB_PASSWORD={S}", "-m", "lots", "nginx"),
    }
    for label, argv in lines.items():
        yield Case(f"import_{label}", {}, (*run, *argv), klass="import")
    one_line = f"docker run -e DATABASE_URL=postgres://a:{S}@db/app --password={S} nginx"
    yield Case("import_one_argument", {}, ("import", "run", "--", one_line), klass="import")
    # Written with -o: the stack file holds a reference, .env the value (checked by the tests).
    for label in ("e_database_url", "env_eq_stripe", "log_opt_splunk", "label_token"):
        yield Case(
            f"import_output_{label}",
            {},
            ("import", "run", "-o", "stack.yaml", "--", "docker", "run", *lines[label]),
            klass="import",
        )


def cases() -> list[Case]:
    out = [*_leak_error(), *_taint(), *_name_rules(), *_import()]
    for case in out:
        if case.name == "taint_env_file_cli":
            out[out.index(case)] = Case(
                case.name, case.files, ("--env-file", "vars.env", "config"), klass="taint"
            )
    names = [c.name for c in out]
    assert len(names) == len(set(names)), "case names must be unique"
    return out

"""nginx -t output translated to host files and lines through bind mounts."""

from __future__ import annotations

from pathlib import Path

from stackup.watch.nginx_errors import Mount, explain, host_path, parse

MOUNTS = [
    Mount(Path("/home/me/proj/nginx/default.conf"), "/etc/nginx/conf.d/default.conf", True),
    Mount(Path("/home/me/proj/snippets"), "/etc/nginx/snippets", False),
    Mount(Path("/home/me/proj/etc"), "/etc", False),
]


def test_exec_form() -> None:
    out = (
        'nginx: [emerg] unknown directive "lisen" in /etc/nginx/conf.d/default.conf:12\n'
        "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
    )
    (err,) = parse(out, MOUNTS)
    assert err.level == "emerg" and err.line == 12
    assert err.host_path == Path("/home/me/proj/nginx/default.conf")
    assert err.format(Path("/home/me/proj")) == (
        'nginx/default.conf:12: unknown directive "lisen" (nginx -t [emerg])'
    )


def test_error_log_form_with_pid() -> None:
    out = (
        '2026/11/28 02:35:32 [emerg] 23#23: unexpected end of file, expecting "}" '
        "in /etc/nginx/snippets/headers.conf:3\n"
    )
    (err,) = parse(out, MOUNTS)
    assert err.message == 'unexpected end of file, expecting "}"'
    assert err.host_path == Path("/home/me/proj/snippets/headers.conf")  # the longest mount wins
    assert err.line == 3


def test_path_outside_mounts_says_so() -> None:
    (err,) = parse(
        'nginx: [emerg] "add_header" directive is not allowed here in /usr/local/x.conf:4', MOUNTS
    )
    assert err.host_path is None
    assert err.format() == (
        '/usr/local/x.conf (in the container):4: "add_header" directive is not allowed here (nginx -t [emerg])'
    )


def test_host_path_single_file_mount_matches_only_itself() -> None:
    assert host_path("/etc/nginx/conf.d/other.conf", MOUNTS[:1]) is None
    assert host_path("/etc/nginx/nginx.conf", MOUNTS) == Path("/home/me/proj/etc/nginx/nginx.conf")


def test_warnings_shown_only_without_errors() -> None:
    out = (
        'nginx: [warn] conflicting server name "x" on 0.0.0.0:80, ignored\n'
        'nginx: [emerg] unknown directive "x" in /etc/nginx/conf.d/default.conf:2\n'
    )
    assert explain(out, MOUNTS, Path("/home/me/proj")) == [
        'nginx/default.conf:2: unknown directive "x" (nginx -t [emerg])'
    ]


def test_unrecognised_output_is_passed_through() -> None:
    assert explain("sh: nginx: not found\n", MOUNTS) == ["sh: nginx: not found"]

#!/usr/bin/env bash
# The whole test suite from nothing (what .ci/run calls):
#   engine (found or started) -> images -> .venv -> test tools -> ruff -> mypy -> pytest.
#
# Fails when a check fails, when any test fails, when an engine test is skipped
# (STACKUP_REQUIRE_ENGINE=1) or none ran, and when tests left labelled resources behind.
# A dockerd this script started is stopped at the end (STACKUP_KEEP_ENGINE=1 keeps it).
# Extra arguments go to pytest (then a run without engine tests is allowed).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$STACKUP_ROOT"

# Debian packages the tests use besides the engine and the image builders:
# the registry for pull tests, Compose 1.29 as an oracle, graphviz for graph output,
# Chromium for the watch --live-reload test (driven headless over its DevTools protocol).
# (The engine-restart test starts a dockerd of its own from the docker.io already installed.)
TEST_DEBS=(docker-registry docker-compose graphviz chromium)

started_dockerd=""
started_podman=""
cleaned=0

stop_daemons() {
  [ "$cleaned" = 1 ] && return 0
  cleaned=1
  local pid
  # The registry fixture stops its registry; this is for a pytest that died first.
  if pid="$(pidfile_pid "$STACKUP_REGISTRY_PIDFILE")" &&
    grep -q docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
    say "stopping the docker-registry left running (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || stop_pid "$pid" 10
  fi
  rm -f "$STACKUP_REGISTRY_PIDFILE"
  # Podman's service, only when this run started it (scripts/setup-podman.sh).
  if [ -n "$started_podman" ]; then
    say "stopping the podman service this script started (pid $started_podman)"
    stop_pid "$started_podman" 30
  fi
  # No test signals this dockerd (the engine-restart test restarts one of its own), so the
  # one running now is the one this script started.
  if [ -n "$started_dockerd" ]; then
    if [ "${STACKUP_KEEP_ENGINE:-0}" = 1 ]; then
      say "leaving dockerd (pid $started_dockerd) running (STACKUP_KEEP_ENGINE=1)"
    else
      say "stopping the dockerd this script started (pid $started_dockerd)"
      stop_pid "$started_dockerd" 60
    fi
  fi
}
trap stop_daemons EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n[test] ==== %s\n' "$*"; }

# --- environment ---------------------------------------------------------------------
step "engine"
before="$(pidfile_pid "$STACKUP_DOCKERD_PIDFILE" || true)"
bash scripts/setup-engine.sh
after="$(pidfile_pid "$STACKUP_DOCKERD_PIDFILE" || true)"
if [ -n "$after" ] && [ "$after" != "$before" ]; then started_dockerd="$after"; fi
load_engine_env

step "images"
bash scripts/build-images.sh

# The server the SSH engine tests deploy to (tests/engine/remote_host.py): ~1 min the first
# time (debootstrap), seconds from the cached root, nothing when the image is current.
step "remote host"
remote_t0=$SECONDS
bash scripts/build-remote-host.sh
say "remote host image ready in $((SECONDS - remote_t0))s"

# Podman beside Docker for the Podman tests (tests/engine/test_podman*.py): installed from
# Debian when missing, its service started here and stopped at the end.
step "podman"
podman_pidfile="$STACKUP_STATE_DIR/podman/service.pid"
before="$(pidfile_pid "$podman_pidfile" || true)"
bash scripts/setup-podman.sh
after="$(pidfile_pid "$podman_pidfile" || true)"
if [ -n "$after" ] && [ "$after" != "$before" ]; then started_podman="$after"; fi

step "virtualenv"
bash scripts/install.sh

step "test tools"
if can_apt; then
  apt_ensure "${TEST_DEBS[@]}"
else
  for deb in "${TEST_DEBS[@]}"; do
    deb_installed "$deb" 2>/dev/null || warn "$deb is not installed and cannot be installed here"
  done
fi

# --- checks ----------------------------------------------------------------------------
failures=()

step "ruff"
.venv/bin/ruff check . || failures+=("ruff")

step "mypy --strict stackup"
.venv/bin/mypy --strict stackup || failures+=("mypy")

# Resources of test projects (sut-*) present before the run: reported, not blamed on it.
leftovers() { { docker_leftovers && podman_leftovers; } | sort; }
docker_leftovers() {
  {
    docker ps -a --format '{{.Names}} {{.Label "io.stackup.project"}} {{.Label "com.docker.compose.project"}}' |
      sed 's/^/container /'
    docker network ls --format '{{.Name}} {{.Label "io.stackup.project"}} {{.Label "com.docker.compose.project"}}' |
      sed 's/^/network /'
    docker volume ls --format '{{.Name}} {{.Label "io.stackup.project"}} {{.Label "com.docker.compose.project"}}' |
      sed 's/^/volume /'
  } | awk '$3 ~ /^sut-/ || $4 ~ /^sut-/ { print $1 " " $2 " (project " ($3 ~ /^sut-/ ? $3 : $4) ")" }' |
    sort
}
# The same in Podman (the Podman tests' projects), through its own configuration; networks
# by name (`<project>_<network>`: podman 4.3 cannot print one label of a network).
podman_leftovers() {
  [ -f "$STACKUP_STATE_DIR/podman/env" ] && have podman || return 0
  (
    # shellcheck disable=SC1091
    . "$STACKUP_STATE_DIR/podman/env"
    {
      podman ps -a --format '{{.Names}} {{index .Labels "io.stackup.project"}}' |
        awk '$2 ~ /^sut-/ { print "podman container " $1 " (project " $2 ")" }'
      podman volume ls --format '{{.Name}} {{index .Labels "io.stackup.project"}}' |
        awk '$2 ~ /^sut-/ { print "podman volume " $1 " (project " $2 ")" }'
      podman network ls --format '{{.Name}}' |
        awk -F_ '$1 ~ /^sut-/ { print "podman network " $0 " (project " $1 ")" }'
    } 2>/dev/null | sort || true
  )
}
leftovers_before="$(leftovers)"
# Anonymous volumes carry no label; unused ones that appear during the run were left by it.
dangling() { docker volume ls -q --filter dangling=true | { grep -E '^[0-9a-f]{64}$' || true; } | sort; }
dangling_before="$(dangling)"
if [ -n "$leftovers_before" ]; then
  warn "resources of earlier test runs are still there (not counted against this run):"
  printf '  %s\n' "$leftovers_before" >&2
fi

step "pytest"
report="$STACKUP_STATE_DIR/test-report.json"
rm -f "$report"
set +e
# No arguments: pyproject's testpaths (tests/). Arguments replace that selection.
STACKUP_REQUIRE_ENGINE=1 STACKUP_REMOTE_TESTS=1 STACKUP_PODMAN_TESTS=1 STACKUP_ENGINE_REPORT="$report" \
  .venv/bin/python -m pytest "$@"
pytest_rc=$?
set -e
case "$pytest_rc" in
  0) ;;
  1) failures+=("pytest: tests failed") ;;
  5) failures+=("pytest: no tests were collected") ;;
  *) failures+=("pytest: exit code $pytest_rc (interrupted, internal or usage error)") ;;
esac

counts() { # counts engine|all -> "passed failed skipped"
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[2]]
print(d["passed"], d["failed"], d["skipped"])' "$report" "$1" 2>/dev/null || echo "0 0 0"
}
read -r e_pass e_fail e_skip <<<"$(counts engine)"
read -r a_pass a_fail a_skip <<<"$(counts all)"

step "after the tests"
say "engine tests ran: $((e_pass + e_fail)) ($e_pass passed, $e_fail failed, $e_skip skipped)"
if [ "$e_skip" != 0 ]; then failures+=("$e_skip engine tests skipped"); fi
if [ $((e_pass + e_fail)) = 0 ] && [ "$#" = 0 ] && [ "$pytest_rc" != 5 ]; then
  failures+=("no engine test ran")
fi

leftovers_after="$(leftovers)"
new_leftovers="$(comm -13 <(printf '%s\n' "$leftovers_before") <(printf '%s\n' "$leftovers_after") | sed '/^$/d')"
if [ -n "$new_leftovers" ]; then
  n="$(printf '%s\n' "$new_leftovers" | wc -l)"
  warn "$n resources labelled by test projects were left behind (tests must remove theirs):"
  printf '  %s\n' "$new_leftovers" >&2
  failures+=("$n resources left behind by tests")
else
  say "no test resources left behind"
fi
new_dangling="$(comm -13 <(printf '%s\n' "$dangling_before") <(dangling) | sed '/^$/d')"
if [ -n "$new_dangling" ]; then
  n="$(printf '%s\n' "$new_dangling" | wc -l)"
  warn "$n anonymous volumes were left behind unused by the tests"
  failures+=("$n anonymous volumes left behind by tests")
else
  say "no anonymous volume left behind"
fi

stop_daemons

echo
if [ "${#failures[@]}" -gt 0 ]; then
  echo "[test] FAILED: $(IFS=';'; echo "${failures[*]}")"
  echo "total: $a_pass passed, $a_fail failed, $a_skip skipped"
  exit 1
fi
echo "[test] all checks passed; engine tests: $e_pass passed"
echo "total: $a_pass passed, $a_fail failed, $a_skip skipped"

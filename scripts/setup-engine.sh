#!/usr/bin/env bash
# Find a Docker engine that answers, or install and start one (Debian, as root).
#
#   1. probe the engine the docker CLI would use (DOCKER_HOST, else the current context),
#      then the current context and the default socket explicitly;
#   2. where none answers and apt-get is usable: install Debian's docker.io (+ iptables),
#      start `dockerd` detached from this terminal, record its pid in
#      $STACKUP_STATE_DIR/dockerd.pid and wait for it (STACKUP_ENGINE_WAIT seconds, 60);
#   3. otherwise say what was tried and how to start an engine, and exit 1.
#
# Safe to run twice: an engine that answers is left alone. When the engine that answers is
# not the one the CLI picks by itself, `export DOCKER_HOST=...` is written to
# $STACKUP_STATE_DIR/engine.env for the other scripts to source.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT="${STACKUP_ENGINE_WAIT:-60}"
tried=()

probe() { # probe LABEL [DOCKER_HOST value or "" for the CLI's own choice]
  local label="$1" host="${2-}"
  tried+=("$label")
  if [ -n "$host" ]; then
    DOCKER_HOST="$host" engine_answers
  else
    engine_answers
  fi
}

found() { # found DESCRIPTION [DOCKER_HOST to export]
  local version
  if [ -n "${2:-}" ]; then
    printf 'export DOCKER_HOST=%q\n' "$2" >"$STACKUP_ENGINE_ENV"
    export DOCKER_HOST="$2"
    say "engine endpoint written to $STACKUP_ENGINE_ENV (DOCKER_HOST=$2)"
  else
    rm -f "$STACKUP_ENGINE_ENV"
  fi
  version="$(timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
  say "Docker engine answers: $1 (server $version)"
  exit 0
}

find_engine() {
  have docker || {
    tried+=("docker CLI (not installed)")
    return 1
  }
  local ctx ctx_host
  if [ -n "${DOCKER_HOST:-}" ]; then
    say "probing DOCKER_HOST=$DOCKER_HOST"
    probe "DOCKER_HOST=$DOCKER_HOST" && found "DOCKER_HOST=$DOCKER_HOST"
  fi
  ctx="$(env -u DOCKER_HOST docker context show 2>/dev/null || echo default)"
  ctx_host="$(env -u DOCKER_HOST docker context inspect "$ctx" \
    --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)"
  if [ -z "${DOCKER_HOST:-}" ]; then
    say "probing the current docker context '$ctx' (${ctx_host:-?})"
    probe "docker context '$ctx' (${ctx_host:-?})" && found "context '$ctx' (${ctx_host:-?})"
  elif [ -n "$ctx_host" ]; then
    say "probing the current docker context '$ctx' ($ctx_host)"
    probe "docker context '$ctx' ($ctx_host)" "$ctx_host" && found "context '$ctx'" "$ctx_host"
  fi
  if [ "${ctx_host:-}" != "unix:///var/run/docker.sock" ] &&
    [ "${DOCKER_HOST:-}" != "unix:///var/run/docker.sock" ]; then
    say "probing the default socket /var/run/docker.sock"
    probe "/var/run/docker.sock" "unix:///var/run/docker.sock" &&
      found "/var/run/docker.sock" "unix:///var/run/docker.sock"
  fi
  return 1
}

give_up() {
  {
    echo
    echo "No Docker engine answers. Tried:"
    printf '  - %s\n' "${tried[@]}"
    [ -n "${1:-}" ] && echo "Reason: $1"
    if [ -s "$STACKUP_LOG_DIR/engine-probe.err" ]; then
      echo "Last answer of the docker CLI:"
      sed 's/^/  /' "$STACKUP_LOG_DIR/engine-probe.err" | tail -n 5
    fi
    cat <<'EOF'

Start an engine, then run this script again:
  - macOS / Windows: start Docker Desktop (or `colima start`), then check `docker info`.
  - Linux with systemd:  sudo systemctl start docker
  - Linux without systemd (containers, CI):  sudo dockerd >/tmp/dockerd.log 2>&1 &
  - Debian / Ubuntu without Docker:  sudo apt-get install docker.io, then one of the above
    (this script does that itself when it runs as root).
  - "permission denied" on the socket: run as root, or join the docker group
    (sudo usermod -aG docker "$USER", then log in again).
  - A remote or rootless engine: export DOCKER_HOST=unix:///run/user/$UID/docker.sock (or
    ssh://host), or `docker context use NAME`.
EOF
  } >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
load_engine_env
find_engine || true

# Someone (maybe us, earlier) may have started a dockerd that is still coming up.
# (Not a user's business when it is root's dockerd and the socket is merely not theirs.)
if is_root && have pgrep && pgrep -x dockerd >/dev/null 2>&1 && have docker; then
  say "a dockerd process exists but does not answer yet; waiting up to ${WAIT}s"
  for ((i = 0; i < WAIT; i++)); do
    DOCKER_HOST=unix:///var/run/docker.sock engine_answers &&
      found "/var/run/docker.sock (dockerd already running)" "unix:///var/run/docker.sock"
    sleep 1
  done
  give_up "a dockerd process is running but its socket never answered"
fi

can_apt || give_up "nothing can be installed or started here: that needs apt-get (Debian, Ubuntu) as root or with passwordless sudo"

say "no engine answers: installing Debian's Docker engine"
apt_ensure docker.io iptables
have dockerd || give_up "docker.io installed but dockerd is not on PATH"

# A package post-install script may have started the service: it is ours to stop, too.
if DOCKER_HOST=unix:///var/run/docker.sock engine_answers; then
  if [ -s /var/run/docker.pid ]; then cp /var/run/docker.pid "$STACKUP_DOCKERD_PIDFILE"; fi
  found "/var/run/docker.sock (started by the package)" "unix:///var/run/docker.sock"
fi

start_dockerd() { # start_dockerd EXTRA_ARGS...
  local log="$STACKUP_LOG_DIR/dockerd.log" launcher pid i
  rm -f "$STACKUP_DOCKERD_PIDFILE"
  say "starting: dockerd --pidfile $STACKUP_DOCKERD_PIDFILE ${STACKUP_DOCKERD_ARGS:-}$* (detached; log: $log)"
  # setsid + redirections: the daemon holds neither our terminal nor our stdout/stderr,
  # so a caller piping this script's output is not kept waiting on it. dockerd writes
  # its own pid file (and removes it when it exits): that is how callers stop it.
  # `setsid -w` keeps the launcher alive as long as dockerd, to notice an early exit.
  # shellcheck disable=SC2086
  if is_root; then
    setsid -w dockerd --pidfile "$STACKUP_DOCKERD_PIDFILE" ${STACKUP_DOCKERD_ARGS:-} "$@" \
      >"$log" 2>&1 </dev/null &
  else
    # shellcheck disable=SC2024 # the log is ours, written by us, on purpose
    sudo -n setsid -w dockerd --pidfile "$STACKUP_DOCKERD_PIDFILE" ${STACKUP_DOCKERD_ARGS:-} "$@" \
      >"$log" 2>&1 </dev/null &
  fi
  launcher=$!
  say "waiting up to ${WAIT}s for the engine socket"
  for ((i = 0; i < WAIT * 2; i++)); do
    if DOCKER_HOST=unix:///var/run/docker.sock engine_answers; then
      pid="$(cat "$STACKUP_DOCKERD_PIDFILE" 2>/dev/null || echo '?')"
      say "dockerd (pid $pid) answers after ~$((i / 2))s; stop it with: kill $pid"
      return 0
    fi
    if ! pid_alive "$launcher"; then
      warn "dockerd exited; last lines of $log:"
      tail -n 15 "$log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  warn "dockerd did not answer within ${WAIT}s; last lines of $log:"
  tail -n 15 "$log" >&2 || true
  pid="$(cat "$STACKUP_DOCKERD_PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && stop_pid "$pid" 20
  return 1
}

tried+=("starting dockerd")
if start_dockerd; then
  found "/var/run/docker.sock (dockerd started by this script)" "unix:///var/run/docker.sock"
fi
# Kernels or sandboxes without netfilter: the engine still works without iptables rules
# (published ports then go through docker-proxy, which is all loopback tests need).
if grep -qi iptables "$STACKUP_LOG_DIR/dockerd.log" 2>/dev/null; then
  tried+=("starting dockerd --iptables=false")
  say "retrying without iptables"
  start_dockerd --iptables=false &&
    found "/var/run/docker.sock (dockerd --iptables=false, started by this script)" \
      "unix:///var/run/docker.sock"
fi
give_up "dockerd did not come up (log: $STACKUP_LOG_DIR/dockerd.log)"

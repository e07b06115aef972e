# shellcheck shell=bash disable=SC2034
# Shared helpers for the set-up scripts. Source it; do not run it.
#
# Environment (all optional):
#   STACKUP_STATE_DIR   pid files and daemon logs      (default: <repo>/.stackup-cache)
#   STACKUP_CACHE       downloaded / built image roots (default: /var/cache/stackup,
#                       or ~/.cache/stackup when that is not writable)
#   STACKUP_RUN_ID      one id for a top-level script and the scripts it calls, so that
#                       `apt-get update` runs once per run (set here when unset)

STACKUP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACKUP_STATE_DIR="${STACKUP_STATE_DIR:-$STACKUP_ROOT/.stackup-cache}"
STACKUP_LOG_DIR="$STACKUP_STATE_DIR/logs"
STACKUP_DOCKERD_PIDFILE="$STACKUP_STATE_DIR/dockerd.pid"
STACKUP_REGISTRY_PIDFILE="$STACKUP_STATE_DIR/registry.pid"
STACKUP_ENGINE_ENV="$STACKUP_STATE_DIR/engine.env"
export STACKUP_ROOT STACKUP_STATE_DIR
mkdir -p "$STACKUP_LOG_DIR"
if [ -z "${STACKUP_RUN_ID:-}" ]; then
  export STACKUP_RUN_ID="$$"
  rm -f "$STACKUP_STATE_DIR"/apt-updated.* 2>/dev/null || true
fi

# Every line a script prints starts with its name, so a CI log shows who said what.
_stackup_tag="$(basename "${0:-stackup}" .sh)"
say() { printf '[%s] %s\n' "$_stackup_tag" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$_stackup_tag" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$_stackup_tag" "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Run a command as root: directly when we are root, through `sudo -n` when that works
# without a password, otherwise fail (the caller prints what to do instead).
as_root() {
  if is_root; then
    "$@"
  elif have sudo && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

can_apt() { have apt-get && { is_root || { have sudo && sudo -n true 2>/dev/null; }; }; }

# dpkg's view of whether a package is installed (not merely known).
deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# Install Debian packages that are missing; `apt-get update` runs at most once per
# top-level script run (STACKUP_RUN_ID is shared with the scripts it calls).
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    deb_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    say "Debian packages already installed: $*"
    return 0
  fi
  can_apt || die "missing Debian packages (${missing[*]}) and no apt-get as root to install them"
  if [ ! -f "$STACKUP_STATE_DIR/apt-updated.$STACKUP_RUN_ID" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
      die "apt-get update failed"
    touch "$STACKUP_STATE_DIR/apt-updated.$STACKUP_RUN_ID"
  fi
  say "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Use-Pty=0 "${missing[@]}" >"$STACKUP_LOG_DIR/apt-install.log" 2>&1 || {
    tail -n 30 "$STACKUP_LOG_DIR/apt-install.log" >&2
    die "apt-get install ${missing[*]} failed (log: $STACKUP_LOG_DIR/apt-install.log)"
  }
}

# The engine endpoint found by setup-engine.sh (it writes DOCKER_HOST there when the
# engine is not the one the docker CLI would pick by itself).
load_engine_env() {
  if [ -f "$STACKUP_ENGINE_ENV" ]; then
    # shellcheck disable=SC1090
    . "$STACKUP_ENGINE_ENV"
  fi
}

# Does an engine answer with the current settings? Bounded, quiet; the CLI's complaint is
# kept in $STACKUP_LOG_DIR/engine-probe.err for a useful message.
engine_answers() {
  have docker || return 1
  timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>"$STACKUP_LOG_DIR/engine-probe.err"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The pid in a pid file, if that process is alive.
pidfile_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  pid_alive "$pid" || return 1
  printf '%s\n' "$pid"
}

# Stop a process we started (by pid), politely first; wait at most $2 seconds.
stop_pid() {
  local pid="$1" limit="${2:-30}" i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 5; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.2
  done
  warn "pid $pid did not stop within ${limit}s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

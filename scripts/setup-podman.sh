#!/usr/bin/env bash
# Podman beside Docker, for the Podman tests (tests/engine/test_podman*.py) and for users who
# want to try stackup on Podman (docs/podman.md). Debian 12, as root:
#
#   1. install Debian's podman (and curl) when missing, without recommends (never replacing
#      docker.io, runc or containerd: podman takes the runc already there; crun is not
#      installed);
#   2. write its configuration into $STACKUP_STATE_DIR/podman/ (CONTAINERS_CONF,
#      CONTAINERS_STORAGE_CONF; /etc/containers is left alone): runc (crun fails here with
#      "cgroups in hybrid mode not supported"), cgroupfs (no systemd), events in a file, and
#      default ulimits no higher than this shell's hard limits (a root without
#      CAP_SYS_RESOURCE cannot start a container asking for more);
#   3. start `podman system service --time=0 unix:///run/podman/podman.sock` detached (setsid,
#      its output in a log, no terminal), its pid in $STACKUP_STATE_DIR/podman/service.pid
#      (scripts/test.sh stops it at its end when this run started it);
#   4. load the locally built images from dockerd (`docker save … | podman load`: no registry);
#   5. check that Docker still answers and still publishes a port.
#
# Safe to run twice: a service that answers is left alone, images present are not loaded again.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PODMAN_DIR="$STACKUP_STATE_DIR/podman"
PODMAN_SOCKET="${STACKUP_PODMAN_SOCKET:-/run/podman/podman.sock}"
PODMAN_PIDFILE="$PODMAN_DIR/service.pid"
PODMAN_IMAGES=(nginx:1.25 nginx:1.27 nginx:stable nginx:latest busybox:latest busybox:1.36 busybox:stable)
WAIT="${STACKUP_ENGINE_WAIT:-60}"
mkdir -p "$PODMAN_DIR"

is_root || die "Podman's service for the tests runs as root (rootless is untested: docs/podman.md)"

# curl: the probe of the socket and of Docker's published port below.
apt_ensure podman curl
have podman || die "podman is not on PATH after installing it"

# Configuration of our own, so /etc/containers stays as the package left it.
nofile="$(ulimit -Hn)"
nproc="$(ulimit -Hu)"
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=32768
# podman's own hard limit for nproc is 32768: above it no container starts.
[ "$nproc" -gt 32768 ] && nproc=32768
cat >"$PODMAN_DIR/containers.conf" <<EOF
# Written by scripts/setup-podman.sh; read through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
EOF
cat >"$PODMAN_DIR/storage.conf" <<EOF
# Written by scripts/setup-podman.sh; read through CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"
printf 'export CONTAINERS_CONF=%q CONTAINERS_STORAGE_CONF=%q\n' \
  "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF" >"$PODMAN_DIR/env"

podman_answers() {
  timeout 10 curl -fsS --unix-socket "$PODMAN_SOCKET" http://podman/version 2>/dev/null |
    grep -q '"Podman Engine"'
}

if podman_answers; then
  say "Podman answers on unix://$PODMAN_SOCKET (left as it is)"
else
  mkdir -p "$(dirname "$PODMAN_SOCKET")"
  rm -f "$PODMAN_SOCKET"
  log="$PODMAN_DIR/service.log"
  say "starting: podman system service --time=0 unix://$PODMAN_SOCKET (detached; log: $log)"
  setsid podman system service --time=0 "unix://$PODMAN_SOCKET" >"$log" 2>&1 </dev/null &
  echo $! >"$PODMAN_PIDFILE"
  for ((i = 0; i < WAIT * 2; i++)); do
    podman_answers && break
    pid_alive "$(cat "$PODMAN_PIDFILE")" || {
      tail -n 15 "$log" >&2
      die "podman system service exited"
    }
    sleep 0.5
  done
  podman_answers || die "Podman did not answer on $PODMAN_SOCKET within ${WAIT}s (log: $log)"
  say "Podman answers on unix://$PODMAN_SOCKET (pid $(cat "$PODMAN_PIDFILE"))"
fi

# The images the tests run, from dockerd: Podman has no registry to pull from either.
missing=()
for image in "${PODMAN_IMAGES[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || continue
  podman image exists "localhost/$image" || missing+=("$image")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "loading into Podman from dockerd: ${missing[*]}"
  docker save "${missing[@]}" | podman load -q >/dev/null
fi

# Docker keeps working beside it (the package must not have touched its runtime or network).
docker info --format '{{.ServerVersion}}' >/dev/null || die "Docker stopped answering"
probe="stackup-podman-setup-probe-$$"
if docker run -d --rm --name "$probe" -p 127.0.0.1::80 nginx:1.27 >/dev/null 2>&1; then
  port="$(docker port "$probe" 80/tcp | head -n1 | sed 's/.*://')"
  ok=0
  for ((i = 0; i < 20; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" && ok=1 && break
    sleep 0.5
  done
  docker rm -f "$probe" >/dev/null 2>&1 || true
  [ "$ok" = 1 ] || die "Docker no longer serves a published port after installing podman"
  say "Docker still publishes ports"
fi
say "Podman ready: DOCKER_HOST=unix://$PODMAN_SOCKET (configuration: $PODMAN_DIR)"

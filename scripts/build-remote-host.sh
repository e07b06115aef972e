#!/usr/bin/env bash
# Build the image `stackup-test/remote-host`, the server that the SSH engine tests deploy to:
# Debian's openssh-server and docker.io in a debootstrap root (the same approach as the nginx
# image in scripts/images.sh; nothing is pulled from a registry), a user `deploy` in the
# docker group, and scripts/remote-host/init.sh as its entrypoint (dockerd detached, sshd
# in the foreground). The root tarball is cached next to the nginx one.
#
#   STACKUP_CACHE          where the root tarball is cached (default /var/cache/stackup)
#   STACKUP_DEBIAN_MIRROR  Debian mirror for debootstrap (default: read from apt sources)
#   STACKUP_REBUILD=1      rebuild the image (the cached root is kept; delete it to redo it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/images.sh
. "$STACKUP_ROOT/scripts/images.sh"

load_engine_env
engine_answers || die "no Docker engine answers; run scripts/setup-engine.sh first"

REMOTE_HOST_TAG="stackup-test/remote-host:latest"
REMOTE_HOST_PACKAGES="openssh-server,docker.io,iptables,iproute2,procps,util-linux"
# Bump when the package list or the root's layout changes (the cached root is then redone);
# the image is rebuilt whenever init.sh or this script changes (their hash is the recipe label).
REMOTE_HOST_ROOT_RECIPE=1
init="$STACKUP_ROOT/scripts/remote-host/init.sh"
recipe="r$REMOTE_HOST_ROOT_RECIPE-$(cat "$init" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"

t0=$SECONDS
if [ "${STACKUP_REBUILD:-0}" != 1 ] && image_exists "$REMOTE_HOST_TAG" &&
  [ "$(image_recipe "$REMOTE_HOST_TAG")" = "$recipe" ]; then
  say "present: $REMOTE_HOST_TAG ($recipe)"
  exit 0
fi

remote_host_rootfs_tarball() { # prints the path of the cached root tarball
  local cache tarball mirror root arch
  cache="$(stackup_cache_dir)"
  arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
  tarball="$cache/remote-host-rootfs-$STACKUP_DEBIAN_SUITE-$arch-r$REMOTE_HOST_ROOT_RECIPE.tar"
  if [ -s "$tarball" ]; then
    say "using the cached remote-host root $tarball ($(du -h "$tarball" | cut -f1))" >&2
    printf '%s\n' "$tarball"
    return 0
  fi
  apt_ensure debootstrap >&2
  mirror="$(debian_mirror)" || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}; set STACKUP_DEBIAN_MIRROR"
  root="$(mktemp -d "$cache/remote-host-root.XXXXXX")"
  # shellcheck disable=SC2064
  trap "cleanup_debootstrap_root '$root'" EXIT
  local log="$STACKUP_LOG_DIR/debootstrap-remote-host.log" t=$SECONDS
  say "debootstrap --variant=minbase --include=$REMOTE_HOST_PACKAGES $STACKUP_DEBIAN_SUITE (mirror: $mirror); log: $log" >&2
  if ! as_root debootstrap --variant=minbase --include="$REMOTE_HOST_PACKAGES" \
    "$STACKUP_DEBIAN_SUITE" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "debootstrap failed (log: $log)"
  fi
  say "debootstrap done in $((SECONDS - t))s" >&2
  # The user a deploy logs in as: no root login, the engine through the docker group.
  as_root chroot "$root" useradd --create-home --shell /bin/bash --groups docker deploy
  as_root chroot "$root" passwd -d deploy >/dev/null # no password, but not locked (sshd refuses locked users)
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/etc/ssh/ssh_host_*
  as_root tar -C "$root" --numeric-owner --one-file-system \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  cleanup_debootstrap_root "$root"
  trap - EXIT
  say "cached the remote-host root: $tarball ($(du -h "$tarball" | cut -f1))" >&2
  printf '%s\n' "$tarball"
}

tarball="$(remote_host_rootfs_tarball)"
base="stackup-test/remote-host-root:r$REMOTE_HOST_ROOT_RECIPE"
image_exists "$base" || docker import --message "stackup: Debian $STACKUP_DEBIAN_SUITE root with openssh-server and docker.io" \
  "$tarball" "$base" >/dev/null
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$init" "$ctx/init.sh"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY init.sh /usr/local/sbin/stackup-remote-host-init
RUN chmod 0755 /usr/local/sbin/stackup-remote-host-init
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL io.stackup.image=local-build io.stackup.recipe=$recipe
EXPOSE 22
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/sbin/stackup-remote-host-init"]
DOCKERFILE
log="$STACKUP_LOG_DIR/build-remote-host.log"
if ! DOCKER_BUILDKIT=0 docker build -t "$REMOTE_HOST_TAG" "$ctx" >"$log" 2>&1; then
  cat "$log" >&2
  die "docker build of $REMOTE_HOST_TAG failed (log: $log)"
fi
docker rmi "$base" >/dev/null
docker image prune -f --filter label=io.stackup.image=local-build >/dev/null || true
say "$REMOTE_HOST_TAG ($recipe) ready in $((SECONDS - t0))s"

#!/usr/bin/env bash
# Make sure every image that the tests and the example stacks name exists in the engine,
# building it from Debian packages where it is missing (the list is in scripts/images.sh).
# Nothing is pulled from a registry: none is reachable from the build machines.
#
#   STACKUP_CACHE          where the nginx root tarball is cached (default /var/cache/stackup)
#   STACKUP_DEBIAN_MIRROR  Debian mirror for debootstrap (default: read from apt sources)
#   STACKUP_REBUILD=1      rebuild every image even when its tags exist
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/images.sh
. "$STACKUP_ROOT/scripts/images.sh"

load_engine_env
engine_answers || die "no Docker engine answers; run scripts/setup-engine.sh first"

t0=$SECONDS
rebuild="${STACKUP_REBUILD:-0}"

missing() { # missing TAGS... -> prints the tags that need building
  local t
  for t in "$@"; do
    if [ "$rebuild" = 1 ] || ! image_current "$t"; then printf '%s\n' "$t"; fi
  done
}

mapfile -t need_busybox < <(missing "${STACKUP_BUSYBOX_TAGS[@]}")
mapfile -t need_nginx < <(missing "${STACKUP_NGINX_TAGS[@]}")
mapfile -t need_nginx_old < <(missing "${STACKUP_NGINX_OLD_TAGS[@]}")

if [ "${#need_busybox[@]}" -gt 0 ]; then
  say "building busybox (missing: ${need_busybox[*]})"
  build_busybox
else
  say "present: ${STACKUP_BUSYBOX_TAGS[*]}"
fi

if [ "${#need_nginx[@]}" -gt 0 ] && [ "${#need_nginx_old[@]}" -gt 0 ]; then
  say "building nginx (missing: ${need_nginx[*]} ${need_nginx_old[*]})"
  build_nginx both
elif [ "${#need_nginx[@]}" -gt 0 ]; then
  say "building nginx (missing: ${need_nginx[*]})"
  build_nginx new
elif [ "${#need_nginx_old[@]}" -gt 0 ]; then
  say "building nginx (missing: ${need_nginx_old[*]})"
  build_nginx old
else
  say "present: ${STACKUP_NGINX_TAGS[*]} ${STACKUP_NGINX_OLD_TAGS[*]}"
fi

# Images of ours that a rebuild untagged: remove them (only ours, by label).
docker image prune -f --filter label=io.stackup.image=local-build >/dev/null || true

# Check the result, whatever happened above.
for t in "${STACKUP_ALL_IMAGE_TAGS[@]}"; do
  image_exists "$t" || die "image $t is still missing"
done
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' |
  grep -E '^(busybox|nginx):' | sort | sed 's/^/  /' || true
say "images ready in $((SECONDS - t0))s"

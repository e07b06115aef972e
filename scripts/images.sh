# shellcheck shell=bash disable=SC2034
# The images that the tests and the example stacks name, and how each is made locally.
# Source it (build-images.sh does); do not run it.
#
# No public registry is reachable from the build machines, so nothing here pulls: busybox
# is Debian's busybox-static in a FROM-scratch root, nginx is a debootstrap root of
# Debian's nginx laid out like the official image. Every image carries the label
# io.stackup.image=local-build (never io.stackup.project: that label marks stack resources).

# tag -> recipe. Tags with the same recipe and the same labels share one image.
STACKUP_BUSYBOX_TAGS=(busybox:latest busybox:stable busybox:1.36)
# nginx:1.25 differs from the others by a label, so it has another image ID: tests move a
# service from nginx:1.25 to nginx:1.27 and see the image change.
STACKUP_NGINX_TAGS=(nginx:stable nginx:latest nginx:1.27)
STACKUP_NGINX_OLD_TAGS=(nginx:1.25)

STACKUP_ALL_IMAGE_TAGS=(
  "${STACKUP_BUSYBOX_TAGS[@]}" "${STACKUP_NGINX_TAGS[@]}" "${STACKUP_NGINX_OLD_TAGS[@]}"
)

# Bump when a recipe changes: cached roots and images built by an older recipe are redone.
STACKUP_IMAGE_RECIPE=1
STACKUP_DEBIAN_SUITE="${STACKUP_DEBIAN_SUITE:-bookworm}"
STACKUP_NGINX_PACKAGES="${STACKUP_NGINX_PACKAGES:-nginx-light,curl}"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_recipe() { docker image inspect --format '{{index .Config.Labels "io.stackup.recipe"}}' "$1" 2>/dev/null; }

# A tag is up to date when it exists and was made by the current recipe, or was not made
# by us at all (a user who pulled the official image keeps it).
image_current() {
  local recipe
  image_exists "$1" || return 1
  recipe="$(image_recipe "$1")"
  [ -z "$recipe" ] || [ "$recipe" = "$STACKUP_IMAGE_RECIPE" ]
}

stackup_cache_dir() {
  local dir="${STACKUP_CACHE:-/var/cache/stackup}"
  if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/stackup"
    mkdir -p "$dir"
  fi
  printf '%s\n' "$dir"
}

# The Debian mirror of this machine, read from its apt sources at run time (deb822
# *.sources files and one-line *.list files). STACKUP_DEBIAN_MIRROR overrides it.
debian_mirror() {
  if [ -n "${STACKUP_DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "$STACKUP_DEBIAN_MIRROR"
    return 0
  fi
  python3 - <<'PY'
import glob, os, re, sys

def os_release():
    try:
        text = open("/etc/os-release", encoding="utf-8").read()
    except OSError:
        return {}
    return dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', text, re.M))

rel = os_release()
if rel.get("ID") != "debian" and "debian" not in rel.get("ID_LIKE", "").split():
    sys.exit(1)
codename = rel.get("VERSION_CODENAME", "")
entries = []  # (uri, suites, components)
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path, encoding="utf-8").read()):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            entries.append((uri, fields.get("suites", "").split(), fields.get("components", "").split()))
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()[1:]
        if len(words) >= 3:
            entries.append((words[0], [words[1]], words[2:]))

def plain_suite(suite):  # bookworm, stable: not bookworm-updates / bookworm-security
    return "-" not in suite and "/" not in suite

ranked = [e for e in entries if "main" in e[2] and any(plain_suite(s) for s in e[1])]
ranked.sort(key=lambda e: (codename not in e[1],))
if not ranked:
    sys.exit(1)
print(ranked[0][0].rstrip("/"))
PY
}

# ---------------------------------------------------------------------------------------
# busybox: Debian's static busybox, every applet linked in /bin, as the official image.
build_busybox() {
  local ctx tmp applet
  apt_ensure busybox-static
  tmp="$(mktemp -d)"
  ctx="$tmp/root"
  mkdir -p "$ctx"/{bin,etc,tmp,root,home,var/www,usr/bin,usr/sbin,sbin}
  chmod 1777 "$ctx/tmp"
  cp /bin/busybox "$ctx/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ctx/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'daemon:x:1:1:daemon:/usr/sbin:/bin/false' \
    'www-data:x:33:33:www-data:/var/www:/bin/false' \
    'nobody:x:65534:65534:nobody:/home:/bin/false' >"$ctx/etc/passwd"
  printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'www-data:x:33:' 'nogroup:x:65534:' \
    'nobody:x:65534:' >"$ctx/etc/group"
  say "importing busybox ($(/bin/busybox | head -n 1 | cut -d' ' -f1-2), $(/bin/busybox --list | wc -l) applets)"
  tar -C "$ctx" --numeric-owner --owner=0 --group=0 -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    --change "LABEL io.stackup.image=local-build io.stackup.recipe=$STACKUP_IMAGE_RECIPE" \
    --message "stackup: busybox from Debian busybox-static" \
    - "${STACKUP_BUSYBOX_TAGS[0]}" >/dev/null
  rm -rf "$tmp"
  tag_all "${STACKUP_BUSYBOX_TAGS[@]}"
}

tag_all() { # tag_all SOURCE_TAG OTHER_TAGS...
  local src="$1" t
  shift
  [ "$#" -gt 0 ] || return 0 # one tag only (nginx:1.25): nothing to tag, nothing to say
  for t in "$@"; do docker tag "$src" "$t"; done
  say "tagged $src also as: $*"
}

# ---------------------------------------------------------------------------------------
# nginx: a debootstrap minbase root with Debian's nginx, laid out like the official image.
nginx_rootfs_tarball() { # prints the path of the cached, customised root tarball
  local cache tarball mirror root arch
  cache="$(stackup_cache_dir)"
  arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
  tarball="$cache/nginx-rootfs-$STACKUP_DEBIAN_SUITE-$arch-r$STACKUP_IMAGE_RECIPE.tar"
  if [ -s "$tarball" ]; then
    say "using the cached nginx root $tarball ($(du -h "$tarball" | cut -f1))" >&2
    printf '%s\n' "$tarball"
    return 0
  fi
  apt_ensure debootstrap >&2
  mirror="$(debian_mirror)" || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}; set STACKUP_DEBIAN_MIRROR"
  root="$(mktemp -d "$cache/nginx-root.XXXXXX")"
  # shellcheck disable=SC2064
  trap "cleanup_debootstrap_root '$root'" EXIT
  say "debootstrap --variant=minbase --include=$STACKUP_NGINX_PACKAGES $STACKUP_DEBIAN_SUITE (mirror from apt sources: $mirror); log: $STACKUP_LOG_DIR/debootstrap.log" >&2
  local t0=$SECONDS
  if ! as_root debootstrap --variant=minbase --include="$STACKUP_NGINX_PACKAGES" \
    "$STACKUP_DEBIAN_SUITE" "$root" "$mirror" >"$STACKUP_LOG_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$STACKUP_LOG_DIR/debootstrap.log" >&2
    die "debootstrap failed (log: $STACKUP_LOG_DIR/debootstrap.log)"
  fi
  say "debootstrap done in $((SECONDS - t0))s; laying out the root like the official image" >&2
  layout_nginx_root "$root"
  as_root tar -C "$root" --numeric-owner --one-file-system \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  cleanup_debootstrap_root "$root"
  trap - EXIT
  say "cached the nginx root: $tarball ($(du -h "$tarball" | cut -f1))" >&2
  printf '%s\n' "$tarball"
}

cleanup_debootstrap_root() {
  local root="$1" m
  [ -d "$root" ] || return 0
  # debootstrap unmounts what it mounted, unless it was interrupted.
  for m in proc sys dev/pts dev; do
    if mountpoint -q "$root/$m" 2>/dev/null; then as_root umount -l "$root/$m" || true; fi
  done
  as_root rm -rf --one-file-system "$root"
}

layout_nginx_root() {
  local root="$1"
  # The official image's paths and behaviour.
  rm -f "$root/etc/nginx/sites-enabled/default"
  mkdir -p "$root/etc/nginx/conf.d" "$root/usr/share/nginx/html" "$root/var/log/nginx" \
    "$root/var/cache/nginx"
  cat >"$root/etc/nginx/conf.d/default.conf" <<'EOF'
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
  cat >"$root/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. (Built locally from Debian packages by stackup's scripts/build-images.sh.)</p>
</body>
</html>
EOF
  cat >"$root/usr/share/nginx/html/50x.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>Error</title></head>
<body><h1>An error occurred.</h1></body>
</html>
EOF
  ln -sf /dev/stdout "$root/var/log/nginx/access.log"
  ln -sf /dev/stderr "$root/var/log/nginx/error.log"
  # Smaller image: no package caches, lists, documentation or manuals.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old
}

# `docker import` cannot set STOPSIGNAL, so the root is imported bare and the image
# metadata is added by a context-free build on top of it (legacy builder: no buildx needed).
STACKUP_NGINX_BASE="stackup-nginx-root:r$STACKUP_IMAGE_RECIPE"

import_nginx_base() { # import_nginx_base TARBALL
  image_exists "$STACKUP_NGINX_BASE" && return 0
  say "importing the nginx root as $STACKUP_NGINX_BASE"
  docker import --message "stackup: Debian $STACKUP_DEBIAN_SUITE debootstrap root with nginx" \
    "$1" "$STACKUP_NGINX_BASE" >/dev/null
}

build_nginx_tag() { # build_nginx_tag TAG VERSION_LABEL
  local tag="$1" version="$2" log
  log="$STACKUP_LOG_DIR/build-${1//:/-}.log"
  say "building $tag (label org.opencontainers.image.version=$version)"
  if ! DOCKER_BUILDKIT=0 docker build -t "$tag" - >"$log" 2>&1 <<EOF; then
FROM $STACKUP_NGINX_BASE
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL io.stackup.image=local-build io.stackup.recipe=$STACKUP_IMAGE_RECIPE \\
      org.opencontainers.image.version=$version
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
    cat "$log" >&2
    die "docker build of $tag failed (log: $log)"
  fi
}

build_nginx() { # build_nginx [new|old|both]
  local which="${1:-both}" tarball
  tarball="$(nginx_rootfs_tarball)"
  import_nginx_base "$tarball"
  if [ "$which" != old ]; then
    build_nginx_tag "${STACKUP_NGINX_TAGS[0]}" "1.27"
    tag_all "${STACKUP_NGINX_TAGS[@]}"
  fi
  if [ "$which" != new ]; then
    build_nginx_tag "${STACKUP_NGINX_OLD_TAGS[0]}" "1.25"
    tag_all "${STACKUP_NGINX_OLD_TAGS[@]}"
  fi
  # The bare root stays as the images' parent layer; only its tag goes.
  docker rmi "$STACKUP_NGINX_BASE" >/dev/null
}
